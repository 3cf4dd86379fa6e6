"""SCIM errors: one exception type and the RFC 7644 §3.12 error body it becomes.

Every failure a SCIM client can meet leaves the service as a ``ScimError`` and reaches
the wire as ``urn:ietf:params:scim:api:messages:2.0:Error`` with the HTTP status as a
string, a ``scimType`` where RFC 7644 defines one, and a ``detail`` that names the cause
and, where a person can act on it, the fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Error, SCIMException

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A request the service refuses; ``status`` and ``scim_type`` as in RFC 7644 §3.12."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body

    @classmethod
    def from_scim_exception(cls, exc: SCIMException) -> ScimError:
        return cls(exc.status, exc.detail or str(exc), exc.scim_type or None)

    @classmethod
    def from_validation(cls, exc: ValidationError) -> ScimError:
        """The first problem pydantic found, as scim2-models maps it (scimType included)."""
        errors = exc.errors()
        if not errors:  # pragma: no cover - pydantic always reports one
            return cls(400, "the payload is not valid", "invalidValue")
        error = Error.from_validation_error(errors[0])
        detail = error.detail or "the payload is not valid"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more problem(s))"
        status = error.status or 400
        return cls(status, detail, error.scim_type or ("invalidValue" if status == 400 else None))


def not_found(kind: str, resource_id: str) -> ScimError:
    return ScimError(404, f"{kind} {resource_id!r} not found")


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")
