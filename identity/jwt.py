"""Service credentials: verification of `Proxy-Authorization: Bearer <JWT>` tokens.

`ServiceTokenVerifier` checks a token against one issuer's configuration and its
`JwksCache` and returns a `VerifiedToken`, or raises `TokenRejected` with a stable
`reason_code` for the audit trail. pyjwt does the JWS work (signature, `iss`, time claims);
everything an attacker controls before that (size, header, algorithm, key selection, token
type) is decided here first, from configuration only (RFC 8725, RFC 9068).

Key references in the header (`jku`, `x5u`, `jwk`, `x5c`) are refused outright rather than
ignored: no IdP we verify for puts them into access tokens, so their presence is an attack
or a misconfiguration, and the audit trail should say so (`header_key_reference`) instead
of a vaguer `unknown_key` or `bad_signature`. Thumbprints (`x5t`, `x5t#S256`) fetch
nothing and are allowed (Entra ID sends `x5t`).

The token itself is never logged or put into an error message.

Over 400 lines: every claim check of a service token is spelled out with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

import jwt
from jwt import exceptions as jwt_errors

from .jwks import JwksCache

TokenKind = Literal["access", "id"]

RejectReason = Literal[
    "oversize",  # longer than MAX_TOKEN_BYTES; not parsed at all
    "malformed",  # not a compact JWS, bad base64/JSON, unsupported `crit`
    "header_key_reference",  # `jku`/`x5u`/`jwk`/`x5c` in the header
    "alg_not_allowed",  # header `alg` not pinned for this issuer (`none`, HS* always)
    "wrong_type",  # header `typ` is not an access-token type
    "id_token_not_accepted",  # an OIDC ID token offered as a proxy credential
    "wrong_issuer",  # `iss` is not exactly the configured issuer
    "unknown_key",  # `kid` absent or not in the issuer's JWKS, even after a refetch
    "keys_unavailable",  # the issuer's JWKS has never been fetched successfully
    "key_alg_mismatch",  # header `alg` does not fit the type of the key `kid` names
    "bad_signature",  # signature does not verify with the selected key
    "expired",  # `exp` more than the leeway in the past
    "not_yet_valid",  # `nbf` or `iat` more than the leeway in the future
    "missing_claim",  # `iss`, `sub`, `aud` or `exp` absent
    "invalid_claim",  # a registered claim of the wrong type or out of bounds
    "wrong_audience",  # `aud` does not contain the configured audience
]

# --- security constants ------------------------------------------------------------------

# Checked before any parsing, so an oversized header cannot cost base64/JSON work. Access
# tokens are 1-2 KiB; 16 KiB leaves room for large group claims and still bounds the work.
MAX_TOKEN_BYTES: Final = 16 * 1024
# Clock skew tolerated on `exp`, `nbf` and `iat`. More than a minute only widens the window
# in which an expired or stolen token still works (the issue caps it at 60 s).
MAX_LEEWAY_S: Final = 60
# `sub` is the identity of record together with `iss`; OIDC Core §2 limits it to 255 ASCII
# characters, and an unbounded value would flow into every audit record.
MAX_SUBJECT_LENGTH: Final = 255
# Claims without which a token does not say who, for whom, by whom and until when.
REQUIRED_CLAIMS: Final = ("iss", "sub", "aud", "exp")
# Asymmetric algorithms only. HS* are never allowed: an HMAC "key" would be a shared secret
# we do not have, and accepting HS* next to RS* is the key-confusion attack in which the
# RSA public key is used as the HMAC secret (RFC 8725 §2.1). `none` is no signature at all.
ALLOWED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Header members that would tell a verifier where to get the key. Keys come from the
# configured JWKS only; a token naming its own key proves nothing (RFC 8725 §3.10).
HEADER_KEY_REFERENCES: Final = ("jku", "x5u", "jwk", "x5c")
# RFC 9068 §2.1 access-token media types; compared case-insensitively (media types are).
ACCESS_TOKEN_TYPES: Final = ("at+jwt", "application/at+jwt")
# What an OIDC ID token's header says (OIDC Core does not define a `typ`).
_ID_TOKEN_TYPES: Final = (None, "jwt", "application/jwt")
# Claims that only ID tokens carry (OIDC Core §2, §3.3.2.11); an access token with them is
# an ID token in disguise and is treated as one.
ID_TOKEN_CLAIMS: Final = ("nonce", "at_hash", "c_hash", "s_hash")

# A compact JWS: three base64url segments; the signature may be empty (`alg: none`), so
# that such a token is refused for its algorithm, not as garbage.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

_FIXES: Final[Mapping[str, str]] = {
    "oversize": "the client sent something that is not an access token; check what it "
    "puts into Proxy-Authorization",
    "malformed": "the client must send a signed JWT (compact JWS) from the tenant's IdP",
    "header_key_reference": "treat as an attack; if it is the IdP, configure it not to put "
    "jku/x5u/jwk/x5c into access tokens",
    "alg_not_allowed": "if the IdP really signs with this algorithm, add it to the issuer's "
    "pinned algorithms (asymmetric algorithms only)",
    "wrong_type": "the client must present an access token (typ at+jwt); if the IdP issues "
    "access tokens with another typ, add it to accepted_typ",
    "id_token_not_accepted": "the client must request an access token for the proxy's "
    "audience, not send its ID token; or set accept_id_tokens with the client ids",
    "wrong_issuer": "the token's iss must equal the configured issuer exactly (scheme, "
    "host, path and trailing slash); fix the tenant's issuer setting or the client's IdP",
    "unknown_key": "if the IdP rotated its keys, the new key will be fetched after the "
    "refetch cooldown; otherwise the token was not signed by this issuer",
    "keys_unavailable": "the IdP's JWKS could not be fetched yet; check the IdP is reachable "
    "from the proxy and the jwks_uri is right",
    "key_alg_mismatch": "the token's alg does not fit the key type; treat as an attack, or "
    "fix the pinned algorithms to match the IdP's keys",
    "bad_signature": "the token was altered or signed by someone else; treat as an attack",
    "expired": "the client must get a new token from the IdP",
    "not_yet_valid": "check the clocks of the IdP and the proxy (NTP)",
    "missing_claim": "configure the IdP to put iss, sub, aud and exp into access tokens",
    "invalid_claim": "configure the IdP to issue standard claims (RFC 7519 §4.1)",
    "wrong_audience": "the client must request a token for the proxy's audience (resource "
    "or audience parameter at the IdP), or fix the configured audience",
}


class TokenRejected(Exception):
    """The token is not a valid credential; `reason_code` is stable for the audit trail.

    The message never contains the token; values taken from it are shortened and quoted.
    """

    def __init__(self, reason_code: RejectReason, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code: RejectReason = reason_code
        self.message = message

    def diagnostics(self) -> str:
        """Cause and what to do about it, for the operator."""
        return f"{self.message}\n\nTo fix this: {_FIXES[self.reason_code]}"


class VerifierConfigError(ValueError):
    """The verifier's configuration is unsafe or incomplete; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        lines = [f"{len(self.problems)} problem(s) in the service-token configuration:"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Fix each entry above and start again.")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says: who (`issuer` + `subject`), for what, until when."""

    issuer: str
    subject: str
    # The configured audience (or client id, for an ID token) the token was accepted for.
    audience: str
    expires_at: datetime
    token_kind: TokenKind
    # Every other claim, read-only.
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def validate_algorithms(algorithms: Iterable[object]) -> list[str]:
    """The pinned algorithms of an issuer, checked; raises `VerifierConfigError`.

    `none` and every HS* are refused (see ALLOWED_ALGORITHMS), as are names pyjwt does not
    know; duplicates are dropped, order kept. Takes what the configuration holds, typed or
    not, and reports every problem at once.
    """
    if isinstance(algorithms, str):
        raise VerifierConfigError(
            [f"algorithms must be a list such as [{algorithms!r}], not a single string"]
        )
    problems: list[str] = []
    pinned: list[str] = []
    for alg in algorithms:
        if not isinstance(alg, str):
            problems.append(f"algorithm {alg!r} is not a string")
        elif alg.lower() == "none":
            problems.append("algorithm 'none' means an unsigned token and is never allowed")
        elif alg.upper().startswith("HS"):
            problems.append(
                f"algorithm {alg!r} is a shared-secret HMAC and is never allowed for service "
                "tokens (key-confusion risk); use the IdP's RS256/ES256/PS256/EdDSA keys"
            )
        elif alg not in ALLOWED_ALGORITHMS:
            problems.append(
                f"algorithm {alg!r} is unknown; choose from {', '.join(sorted(ALLOWED_ALGORITHMS))}"
                " (names are case-sensitive)"
            )
        elif alg not in pinned:
            pinned.append(alg)
    if not pinned and not problems:
        problems.append("no algorithm is pinned; name the IdP's signing algorithm, e.g. RS256")
    if problems:
        raise VerifierConfigError(problems)
    return pinned


class ServiceTokenVerifier:
    """Verifies bearer JWTs of one issuer for the proxy's audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        jwks: JwksCache,
        *,
        leeway_s: int = MAX_LEEWAY_S,
        accepted_typ: tuple[str, ...] = ACCESS_TOKEN_TYPES,
        accept_id_tokens: bool = False,
        id_token_client_ids: Iterable[str] = (),
    ) -> None:
        problems: list[str] = []
        try:
            self.algorithms: tuple[str, ...] = tuple(validate_algorithms(algorithms))
        except VerifierConfigError as e:
            problems += e.problems
            self.algorithms = ()
        if not issuer:
            problems.append("issuer is empty; set it to the IdP's issuer URL exactly")
        if not audience:
            problems.append("audience is empty; set it to the audience the IdP puts into aud")
        if not 0 <= leeway_s <= MAX_LEEWAY_S:
            problems.append(f"leeway_s is {leeway_s}; it must be between 0 and {MAX_LEEWAY_S}")
        typs = tuple(t.lower() for t in accepted_typ)
        if not typs:
            problems.append("accepted_typ is empty; use ('at+jwt', 'application/at+jwt')")
        client_ids = frozenset(id_token_client_ids)
        if accept_id_tokens and not client_ids:
            problems.append(
                "accept_id_tokens is on but id_token_client_ids is empty; name the client ids "
                "whose ID tokens count as credentials"
            )
        if problems:
            raise VerifierConfigError(problems)
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.leeway_s = leeway_s
        self.accepted_typ = typs
        self.accept_id_tokens = accept_id_tokens
        self.id_token_client_ids = client_ids

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or `TokenRejected` naming the first rule it broke."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected(
                "oversize", f"token of {len(token)} characters (at most {MAX_TOKEN_BYTES})"
            )
        if not _COMPACT_JWS.fullmatch(token):
            raise TokenRejected("malformed", "not a compact JWS (three base64url segments)")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt_errors.PyJWTError as e:
            raise TokenRejected("malformed", f"header or payload cannot be decoded: {e}") from None

        references = [name for name in HEADER_KEY_REFERENCES if name in header]
        if references:
            raise TokenRejected(
                "header_key_reference",
                f"header names its own key source ({', '.join(references)}); keys come from "
                "the configured JWKS only",
            )
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRejected(
                "alg_not_allowed",
                f"alg {_show(alg)} is not pinned for {self.issuer} "
                f"(pinned: {', '.join(self.algorithms)})",
            )
        kind = self._kind(header.get("typ"))
        # Before any key lookup: a token of another issuer must not cost this issuer's IdP a
        # JWKS fetch. Checked again on the verified payload below.
        if unverified.get("iss") != self.issuer:
            raise TokenRejected(
                "wrong_issuer",
                f"iss {_show(unverified.get('iss'))} is not the configured issuer {self.issuer!r}",
            )

        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("unknown_key", "header has no kid")
        key = self.jwks.get(kid) or await self.jwks.get_or_refetch(kid)
        if key is None:
            if not self.jwks.loaded:
                cause = self.jwks.last_error.message if self.jwks.last_error else "not fetched"
                raise TokenRejected(
                    "keys_unavailable", f"JWKS of {self.issuer} is not available ({cause})"
                )
            raise TokenRejected(
                "unknown_key", f"kid {_show(kid)} is not in the JWKS of {self.issuer}"
            )
        if not key.allows(alg):
            raise TokenRejected(
                "key_alg_mismatch",
                f"alg {alg} does not fit key {_show(kid)} ({key.kty}"
                f"{' ' + key.crv if key.crv else ''}{', alg ' + key.alg if key.alg else ''})",
            )

        payload = self._decode(token, key.public_key, alg)
        return self._verified(payload, kind)

    def _kind(self, typ: object) -> TokenKind:
        if typ is not None and not isinstance(typ, str):
            raise TokenRejected("wrong_type", f"typ {_show(typ)} is not a string")
        typ_lower = typ.lower() if typ is not None else None
        if typ_lower is not None and typ_lower in self.accepted_typ:
            return "access"
        if typ_lower in _ID_TOKEN_TYPES:
            if self.accept_id_tokens:
                return "id"
            raise TokenRejected(
                "id_token_not_accepted",
                f"typ {_show(typ)} marks an ID token (not {' or '.join(self.accepted_typ)}); "
                "ID tokens are not proxy credentials here",
            )
        raise TokenRejected(
            "wrong_type", f"typ {_show(typ)} is not one of {', '.join(self.accepted_typ)}"
        )

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            decoded: dict[str, Any] = jwt.decode(
                token,
                key=key,
                # The one algorithm already checked against the pin and the key's type.
                algorithms=[alg],
                issuer=self.issuer,  # exact string equality in pyjwt
                leeway=self.leeway_s,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,  # also refuses an `iat` beyond the leeway
                    "verify_iss": True,
                    # Checked below: which audiences count depends on the token kind.
                    "verify_aud": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt_errors.InvalidSignatureError:
            raise TokenRejected("bad_signature", "signature does not verify") from None
        except jwt_errors.ExpiredSignatureError:
            raise TokenRejected("expired", f"exp is more than {self.leeway_s} s ago") from None
        except jwt_errors.ImmatureSignatureError as e:
            raise TokenRejected("not_yet_valid", f"{e} (leeway {self.leeway_s} s)") from None
        except jwt_errors.MissingRequiredClaimError as e:
            raise TokenRejected("missing_claim", f"claim {e.claim!r} is required") from None
        except jwt_errors.InvalidIssuerError:
            raise TokenRejected("wrong_issuer", f"iss is not {self.issuer!r}") from None
        except (jwt_errors.InvalidIssuedAtError, jwt_errors.InvalidSubjectError) as e:
            raise TokenRejected("invalid_claim", str(e)) from None
        except jwt_errors.InvalidJTIError as e:
            raise TokenRejected("invalid_claim", str(e)) from None
        except jwt_errors.InvalidAlgorithmError as e:
            raise TokenRejected("key_alg_mismatch", str(e)) from None
        except jwt_errors.InvalidKeyError as e:
            raise TokenRejected("key_alg_mismatch", f"key cannot verify {alg}: {e}") from None
        except jwt_errors.PyJWTError as e:
            raise TokenRejected("malformed", str(e)) from None
        return decoded

    def _verified(self, payload: dict[str, Any], kind: TokenKind) -> VerifiedToken:
        # pyjwt converts with int(), which also takes "123" and True; registered time claims
        # are JSON numbers (RFC 7519 §2 NumericDate), nothing else.
        for name in ("exp", "nbf", "iat"):
            value = payload.get(name)
            if name in payload and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TokenRejected("invalid_claim", f"{name} is not a number")
        sub = payload["sub"]
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUBJECT_LENGTH:
            raise TokenRejected(
                "invalid_claim",
                f"sub must be a non-empty string of at most {MAX_SUBJECT_LENGTH} characters",
            )
        if kind == "access" and any(name in payload for name in ID_TOKEN_CLAIMS):
            if not self.accept_id_tokens:
                raise TokenRejected(
                    "id_token_not_accepted",
                    "claims of an ID token (nonce/at_hash/c_hash/s_hash) in an access token",
                )
            kind = "id"

        aud = payload["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise TokenRejected("invalid_claim", "aud is not a string or a list of strings")
        if kind == "access":
            if self.audience not in audiences:
                raise TokenRejected(
                    "wrong_audience",
                    f"aud {_show(audiences)} does not contain {self.audience!r}",
                )
            accepted_for = self.audience
        else:
            matches = [a for a in audiences if a in self.id_token_client_ids]
            if not matches:
                raise TokenRejected(
                    "wrong_audience",
                    f"ID token aud {_show(audiences)} names no configured client id",
                )
            accepted_for = matches[0]

        try:
            expires_at = datetime.fromtimestamp(payload["exp"], UTC)
        except (OverflowError, ValueError, OSError):
            raise TokenRejected("invalid_claim", "exp is out of range") from None
        rest = {k: v for k, v in payload.items() if k not in ("iss", "sub", "aud", "exp")}
        return VerifiedToken(
            issuer=payload["iss"],
            subject=sub,
            audience=accepted_for,
            expires_at=expires_at,
            token_kind=kind,
            claims=MappingProxyType(rest),
        )


def _show(value: object, limit: int = 80) -> str:
    """A token-supplied value for a message: repr, shortened (it is attacker-controlled)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
