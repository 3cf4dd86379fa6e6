"""Recognizers for credentials that leak into prompts: API keys, cloud keys, tokens, private
keys, JWTs, passwords in connection strings and secret-named assignments (``.env``, YAML,
JSON, code), and Egress Warden's own device credentials.

Scores: a prefix that only the issuer uses (``sk-ant-``, ``ghp_``, ``AKIA``) scores 0.9-0.95;
patterns that rely on a name or context (an AWS secret key after ``secret``, a value after
``PASSWORD=``) score 0.8. ``invalidate_result`` drops the look-alikes each pattern is
known to catch (placeholders such as ``${DB_PASSWORD}``, code such as
``os.environ["TOKEN"]``, hyphenated words after ``sk-``).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import ClassVar

import regex
from presidio_analyzer import Pattern

from .base import SecretRecognizer

# Most credentials hold no whitespace: they need no reach, the pre-scan's window is the
# whitespace-delimited token around the trigger (see base.py).

# A token character class for most vendor keys, and "not preceded/followed by one".
_TOK = r"A-Za-z0-9_\-"


def _has_digit_and_letter(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


class OpenAiKeyRecognizer(SecretRecognizer):
    ENTITY = "OPENAI_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "OpenAI key (sk-, sk-proj-, sk-svcacct-, sk-admin-)",
            rf"(?<![{_TOK}])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[{_TOK}]{{20,300}}(?![{_TOK}])",
            0.9,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["openai", "api_key", "key"]
    TRIGGER = r"sk-"

    def invalidate_result(self, pattern_text: str) -> bool:
        # "sk-learn-model-registry-..." and other hyphenated words have no digit
        return not _has_digit_and_letter(pattern_text[3:])


class AnthropicKeyRecognizer(SecretRecognizer):
    ENTITY = "ANTHROPIC_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Anthropic key (sk-ant-api03-, sk-ant-admin01-)",
            rf"(?<![{_TOK}])sk-ant-[{_TOK}]{{20,300}}(?![{_TOK}])",
            0.95,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["anthropic", "claude", "api_key"]
    TRIGGER = r"sk-ant-"

    def invalidate_result(self, pattern_text: str) -> bool:
        return not _has_digit_and_letter(pattern_text[7:])


class AwsAccessKeyIdRecognizer(SecretRecognizer):
    """Access key ids: a four-letter prefix naming the kind (AKIA long-term, ASIA temporary,
    and the other unique-id prefixes) and 16 upper-case letters or digits."""

    ENTITY = "AWS_ACCESS_KEY_ID"
    _PREFIXES = "AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "AWS access key id", rf"(?<![A-Z0-9])(?:{_PREFIXES})[A-Z0-9]{{16}}(?![A-Z0-9])", 0.9
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["aws", "access", "key"]
    TRIGGER = rf"(?:{_PREFIXES})[A-Z0-9]"

    def invalidate_result(self, pattern_text: str) -> bool:
        # real ids mix letters and digits; AKIAEXAMPLEEXAMPLEE-like words do not
        return not any(c.isdigit() for c in pattern_text[4:])


class AwsSecretKeyRecognizer(SecretRecognizer):
    """Secret access keys are 40 base64 characters with nothing to tell them apart, so the
    pattern requires a ``secret`` name within a few characters before the value
    (``aws_secret_access_key = …``, ``"SecretAccessKey": "…"``, ``AWS_SECRET_ACCESS_KEY=…``)."""

    ENTITY = "AWS_SECRET_ACCESS_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "AWS secret access key after a secret name",
            r"(?<=(?i:secret)[A-Za-z0-9_\-. ]{0,24}[\"']?[ \t]{0,3}(?::=|=>|=|:)[ \t]{0,3}[\"']?)"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
            0.85,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["aws", "secret", "access"]
    TRIGGER = r"secret"
    TRIGGER_LOWER = True
    REACH_AFTER = 80

    def invalidate_result(self, pattern_text: str) -> bool:
        has_upper = any(c.isupper() for c in pattern_text)
        has_lower = any(c.islower() for c in pattern_text)
        has_other = any(c.isdigit() or c in "/+" for c in pattern_text)
        return not (has_upper and has_lower and has_other)


class GitHubTokenRecognizer(SecretRecognizer):
    ENTITY = "GITHUB_TOKEN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
            r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])",
            0.95,
        ),
        Pattern(
            "GitHub fine-grained token (github_pat_)",
            r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,244}(?![A-Za-z0-9_])",
            0.95,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["github", "token"]
    TRIGGER = r"gh[pousr]_|github_pat_"  # literal-led: fast


class SlackTokenRecognizer(SecretRecognizer):
    ENTITY = "SLACK_TOKEN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-)",
            r"(?<![A-Za-z0-9])xox[abeprs]-[A-Za-z0-9][A-Za-z0-9-]{9,250}(?![A-Za-z0-9-])",
            0.9,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["slack", "token"]
    TRIGGER = r"xox[abeprs]-"

    def invalidate_result(self, pattern_text: str) -> bool:
        return not any(c.isdigit() for c in pattern_text[5:])


class StripeKeyRecognizer(SecretRecognizer):
    ENTITY = "STRIPE_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Stripe secret or restricted key",
            r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247}(?![A-Za-z0-9_])",
            0.95,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["stripe", "key"]
    TRIGGER = r"k_live_|k_test_"


class GoogleApiKeyRecognizer(SecretRecognizer):
    ENTITY = "GOOGLE_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Google API key (AIza)",
            rf"(?<![{_TOK}])AIza[{_TOK}]{{35}}(?![{_TOK}])",
            0.95,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["google", "gemini", "key"]
    TRIGGER = r"AIza"


class PrivateKeyRecognizer(SecretRecognizer):
    """PEM (and PGP armored) private keys: the whole block from BEGIN to END, or, when the
    END line is missing (a key pasted in part), the header and the base64 lines after it."""

    ENTITY = "PRIVATE_KEY"
    _LABEL = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "PEM private key block",
            rf"-----BEGIN {_LABEL}-----.{{0,20000}}?-----END {_LABEL}-----",
            0.95,
        ),
        Pattern(
            "PEM private key without its END line",
            rf"-----BEGIN {_LABEL}-----(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/=:\- ]{{16,}})+",
            0.9,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["private", "key", "pem"]
    TRIGGER = r"-----BEGIN "
    REACH_AFTER = 20200


class JwtRecognizer(SecretRecognizer):
    """JSON Web Tokens: three base64url parts whose first two are JSON objects (``eyJ`` is
    ``{"`` encoded). Validated when the header decodes to JSON naming an ``alg``."""

    ENTITY = "JWT"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "JWT (header.payload.signature)",
            rf"(?<![{_TOK}.])eyJ[{_TOK}]{{8,}}\.eyJ[{_TOK}]{{8,}}\.[{_TOK}]*(?![{_TOK}.])",
            0.8,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["jwt", "bearer", "token", "authorization"]
    TRIGGER = r"eyJ"

    def validate_result(self, pattern_text: str) -> bool | None:
        header = pattern_text.split(".", 1)[0]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (ValueError, binascii.Error):
            return None
        return True if isinstance(decoded, dict) and "alg" in decoded else None


#: Placeholders and code that stand where a secret would: not secrets themselves.
_NOT_A_VALUE = regex.compile(
    r"""
      \$\{.*\}  | \$\(.*\) | \{\{.*\}\} | <[^>]*> | %\(?[A-Za-z_]+\)?s?%?   # templates
    | \*+ | x+ | X+ | \.+ | -+                                            # masked
    | (?i:null|none|nil|true|false|undefined|changeme_?|required|optional|string|str|empty)
    | .*[()\[\]{}].*                                                      # calls, indexing
    | (?:os|process|self|this|config|settings|env|ENV|secrets|params)\.[\w.]+  # attributes
    """,
    regex.VERBOSE,
)


def _placeholder(value: str) -> bool:
    return _NOT_A_VALUE.fullmatch(value) is not None


class ConnectionStringPasswordRecognizer(SecretRecognizer):
    """The password of ``scheme://user:password@host`` (database URLs, proxies, brokers)."""

    ENTITY = "PASSWORD"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "password in a URL's user info",
            r"(?<=[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/@\"'<>]{1,128}:)[^\s/@\"'<>]{1,256}(?=@[^\s@])",
            0.85,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["password", "connection", "url", "dsn"]
    TRIGGER = r"://"

    def invalidate_result(self, pattern_text: str) -> bool:
        return _placeholder(pattern_text)


#: Names of settings that hold secrets; the value is reported, never the name.
_SENSITIVE_SETTING = (
    r"[A-Za-z0-9_.\-]*(?i:password|passwd|passphrase|pwd|secret|token|credentials?|"
    r"api[_\-]?key|access[_\-]?key|secret[_\-]?key|private[_\-]?key|auth[_\-]?key|"
    r"signing[_\-]?key|encryption[_\-]?key|master[_\-]?key|client[_\-]?key)"
)


class EnvSecretRecognizer(SecretRecognizer):
    """Values of secret-named settings: ``.env`` and shell lines (``DB_PASSWORD=…``,
    ``export GITHUB_TOKEN=…``), YAML (``client_secret: …``), JSON and code with quotes
    (``"api_key": "…"``, ``password = "…"``). The name has to END in the secret word, so
    ``max_tokens: 4096`` and ``token_type: bearer`` are not reported. Unquoted values are
    taken only from line-start assignments (``.env``/YAML); in code an unquoted value is a
    variable, not a secret."""

    ENTITY = "ENV_SECRET"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "quoted value of a secret-named key",
            rf"(?<={_SENSITIVE_SETTING}[\"']?[ \t]{{0,3}}(?::=|=>|=|:)[ \t]{{0,3}}[\"'])"
            r"[^\"'\r\n]{4,512}(?=[\"'])",
            0.8,
        ),
        Pattern(
            "unquoted value of a secret-named line (.env, YAML, shell)",
            rf"(?<=^[ \t]{{0,16}}(?:export[ \t]+|-[ \t]+)?{_SENSITIVE_SETTING}(?:=|:[ \t]{{1,3}}))"
            r"[^\s\"']{4,512}",  # a "#" after whitespace starts a comment: not reached
            0.8,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["password", "secret", "token", "env"]
    TRIGGER = r"(?:password|passwd|passphrase|pwd|secret|token|credential|key)[\"']?[ \t]{0,3}[=:]"
    TRIGGER_LOWER = True
    REACH_AFTER = 530

    def invalidate_result(self, pattern_text: str) -> bool:
        return _placeholder(pattern_text.strip())


class DeviceCredentialRecognizer(SecretRecognizer):
    """Egress Warden's own device credentials (``wdc_`` + 43 URL-safe characters): a user
    who pastes their proxy settings into a prompt must not send their credential out."""

    ENTITY = "WARDEN_DEVICE_CREDENTIAL"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Egress Warden device credential",
            r"(?<![A-Za-z0-9_])wdc_[A-Za-z0-9_\-]{32,64}(?![A-Za-z0-9_\-])",
            0.95,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["proxy", "device", "credential"]
    TRIGGER = r"wdc_"


SECRET_RECOGNIZERS: tuple[type[SecretRecognizer], ...] = (
    OpenAiKeyRecognizer,
    AnthropicKeyRecognizer,
    AwsAccessKeyIdRecognizer,
    AwsSecretKeyRecognizer,
    GitHubTokenRecognizer,
    SlackTokenRecognizer,
    StripeKeyRecognizer,
    GoogleApiKeyRecognizer,
    PrivateKeyRecognizer,
    JwtRecognizer,
    ConnectionStringPasswordRecognizer,
    EnvSecretRecognizer,
    DeviceCredentialRecognizer,
)
