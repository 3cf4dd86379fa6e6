"""The error types of the audit trail, each naming its cause and the operator's fix."""

from __future__ import annotations

from warden.errors import OperatorError


class AuditRecordError(ValueError):
    """An audit record is malformed: a field has the wrong type, size or value.

    Raised on construction (and by ``AuditRecord.from_dict``), so a bad record never
    reaches the log. The message names the field; it never echoes a long value back.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"audit record field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class AuditStoreError(OperatorError):
    """The audit database cannot be opened or written; `diagnostics()` says what to do."""


class AuditUnavailable(Exception):
    """A record could not be committed (queue full, database error, writer closed).

    The proxy treats this as "the check cannot be made" and fails the flow closed unless
    the tenant chose otherwise; the message is safe to show to the user.
    """


class SigningKeyError(Exception):
    """The checkpoint signing key cannot be created or loaded; the message says why and how."""
