"""Coaching acknowledgement links: an HMAC-signed, expiring token naming the person and the rule.

A coaching notice is acknowledged on the portal through a link that carries this token,
so nobody can acknowledge for someone else. The gateway passes one key for all of a host's
processes (a proxy worker makes the link, the control plane's process serves it); without
one, a key is made per process and links die with it (the notice is then shown again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from .engine import PolicyDecision
from .facts import PrincipalFacts

#: How long an acknowledgement link stays valid.
COACH_TOKEN_TTL_S = 3600


class CoachTokens:
    """``make`` a link's token for a coaching decision; ``read`` it back (None if forged or old)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def make(
        self, principal: PrincipalFacts, decision: PolicyDecision, next_url: str, now: float
    ) -> str:
        payload = json.dumps(
            {
                "t": principal.tenant,
                "s": principal.subject,
                "r": decision.rule_id,
                "m": decision.coach_message,
                "p": decision.coach_period_s,
                "n": next_url,
                "e": int(now + COACH_TOKEN_TTL_S),
            },
            separators=(",", ":"),
        ).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return (
            base64.urlsafe_b64encode(payload).decode()
            + "."
            + base64.urlsafe_b64encode(mac).decode()
        )

    def read(self, token: str, now: float) -> dict[str, object] | None:
        try:
            body, mac = token.split(".", 1)
            payload = base64.urlsafe_b64decode(body)
            expected = hmac.new(self._key, payload, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, base64.urlsafe_b64decode(mac)):
                return None
            data = json.loads(payload)
        except (ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("e"), int) or data["e"] < now:
            return None
        return data


def acknowledged(
    data: dict[str, object], policy_version: str
) -> tuple[PrincipalFacts, PolicyDecision]:
    """The person and the coaching decision a valid token's ``data`` names."""
    period = data.get("p")
    decision = PolicyDecision(
        action="coach",
        rule_id=str(data["r"]),
        policy_version=policy_version,
        reason="",
        coach_message=str(data.get("m") or ""),
        coach_period_s=period if isinstance(period, int) else None,
    )
    return PrincipalFacts(str(data["t"]), str(data["s"])), decision
