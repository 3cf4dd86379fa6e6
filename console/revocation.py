"""Revoking sessions in the running gateway through its control plane.

The console never writes the state database: the gateway owns its in-memory session
index, so a revocation only takes effect at once when the gateway itself performs it.
``POST {control_url}/admin/sessions/revoke`` with ``{"tenant", "session_id"}`` (one
session) or ``{"tenant", "subject", "issuer"}`` (every session of a user), authorized by
the admin bearer token read from a file at each call (so a rotated token is picked up);
the gateway answers ``{"revoked": N}`` and audits the revocation itself.

The tenant is checked against the reviewer's scope before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp

from .scope import ReviewerScope

REVOKE_PATH: Final = "/admin/sessions/revoke"
TIMEOUT_S: Final = 10.0


class RevocationError(Exception):
    """The gateway did not confirm the revocation; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    """One session (``session_id``) or every session of a user (``subject`` + ``issuer``)."""

    tenant: str
    session_id: str | None = None
    subject: str | None = None
    issuer: str | None = None

    def __post_init__(self) -> None:
        one = self.session_id is not None
        user = self.subject is not None and self.issuer is not None
        if one == user:
            raise ValueError("revoke either one session_id, or a subject with its issuer")

    def body(self) -> dict[str, str]:
        if self.session_id is not None:
            return {"tenant": self.tenant, "session_id": self.session_id}
        assert self.subject is not None and self.issuer is not None
        return {"tenant": self.tenant, "subject": self.subject, "issuer": self.issuer}


@dataclass(frozen=True, slots=True)
class GatewayControl:
    """Where the running gateway's control plane is and how to authenticate to it."""

    url: str
    token_file: Path

    def _token(self) -> str:
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RevocationError(
                f"cannot read the admin token file {self.token_file}: {exc.strerror}; "
                "pass the file the gateway wrote (--admin-token-file)"
            ) from exc
        if not token:
            raise RevocationError(f"the admin token file {self.token_file} is empty")
        return token

    async def revoke(self, scope: ReviewerScope, request: RevokeRequest) -> int:
        """Ask the gateway to revoke; returns how many sessions it ended."""
        scope.require(request.tenant)
        url = self.url.rstrip("/") + REVOKE_PATH
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http,
                http.post(url, json=request.body(), headers=headers) as response,
            ):
                if response.status in (401, 403):
                    raise RevocationError(
                        f"the gateway refused the admin token ({response.status}): "
                        "check --admin-token-file against the running gateway's"
                    )
                if response.status != 200:
                    text = (await response.text())[:200]
                    raise RevocationError(
                        f"the gateway answered {response.status} to the revocation: {text}"
                    )
                data = await response.json()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RevocationError(
                f"the gateway's control plane at {self.url} is unreachable ({exc}): nothing "
                "was revoked; check that the gateway runs and --control-url points at it"
            ) from exc
        except (aiohttp.ContentTypeError, ValueError) as exc:
            raise RevocationError(f"the gateway's answer was not JSON: {exc}") from exc
        revoked = data.get("revoked") if isinstance(data, dict) else None
        if not isinstance(revoked, int) or isinstance(revoked, bool):
            raise RevocationError(f"the gateway's answer lacks a revoked count: {data!r}"[:300])
        return revoked
