"""Refresh tokens: kept encrypted, used to re-check every signed-in user at the IdP.

A session lives at most ``session_hours``; within that time the refresher asks the IdP
again every ``recheck`` interval with the session's refresh token. When the IdP no longer
vouches for the user (disabled, deleted, password reset: ``invalid_grant``), every
session and credential of that session ends; new department or groups are taken over.
When the IdP cannot be reached the session keeps working (the proxy never depends on the
IdP being up). Refresh tokens are encrypted at rest with a key in the state folder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from warden.keyfiles import read_or_create

from .claims import NotAllowed, user_from_claims
from .events import AuthEvent, AuthEvents
from .oidc import IdpRefused, IdpUnreachable, InvalidIdToken
from .portal import ConfiguredIdp
from .sessions import SessionStore

logger = logging.getLogger("warden.identity.refresh")
KEY_FILE = "refresh-token.key"


class RefreshCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) with a key made at first start, 0600."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def in_folder(cls, folder: Path) -> RefreshCipher:
        return cls(read_or_create(folder / KEY_FILE, Fernet.generate_key))

    def seal(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def open(self, sealed: bytes) -> str | None:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            return None


class SessionRefresher:
    def __init__(
        self,
        sessions: SessionStore,
        idps_by_issuer: Mapping[str, ConfiguredIdp],
        cipher: RefreshCipher,
        events: AuthEvents,
        recheck_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.idps = dict(idps_by_issuer)
        self.cipher = cipher
        self.events = events
        self.recheck_s = recheck_s
        self._clock = clock

    async def run_once(self) -> int:
        """Re-check every due session; returns how many were ended."""
        ended = 0
        now = self._clock()
        for session, sealed in self.sessions.refresh_due(now, self.recheck_s):
            idp = self.idps.get(session.user.issuer)
            token = self.cipher.open(sealed)
            if idp is None or token is None:
                continue
            u = session.user
            try:
                tokens = await idp.client.refresh(
                    token, device_client=session.auth_method == "device"
                )
                user = user_from_claims(tokens.id_token_claims, idp.mapping)
                if user.key != u.key:
                    raise NotAllowed("the IdP answered for another user")
            except IdpUnreachable:
                continue  # the IdP is down: sessions keep working until they expire
            except (IdpRefused, InvalidIdToken, NotAllowed) as exc:
                reason = exc.error if isinstance(exc, IdpRefused) else str(exc)[:100]
                ended += self.sessions.revoke_sessions([session.id], f"IdP re-check: {reason}")
                self.events.emit(
                    AuthEvent.about(
                        "session.ended",
                        u,
                        session.auth_method,
                        reason=f"idp_recheck:{reason}",
                    )
                )
                continue
            if user != u:
                self.sessions.update_user(session, user)
            sealed_new = self.cipher.seal(tokens.refresh_token) if tokens.refresh_token else None
            self.sessions.store_refresh(session.id, sealed_new, self._clock())
        return ended
