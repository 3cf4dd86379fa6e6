"""Recognizers for credentials in a vendor's own format: API keys, cloud keys, tokens,
private keys, JWTs, and Egress Warden's own device credentials. Credentials known by their
context instead (headers, connection strings, secret-named settings) are in
``credentials.py``; ``SECRET_RECOGNIZERS`` at the end lists both.

The formats follow the public rule sets that secret scanners keep up to date, read for
the formats (not copied): gitleaks' rules (github.com/gitleaks/gitleaks,
``config/gitleaks.toml`` generated from ``cmd/generate/config/rules/*.go``) and Yelp
detect-secrets' plugins (github.com/Yelp/detect-secrets, ``detect_secrets/plugins/``).
Vendor formats whose only mark is a vendor name next to them (gitleaks' "semi-generic"
rules: Datadog, Okta, Twitter …) are left to the secret-named-setting recognizer, which
finds the value after any ``*_KEY``/``*_TOKEN``/``*_SECRET`` name.

Scores: a prefix that only the issuer uses (``sk-ant-``, ``ghp_``, ``AKIA``) scores 0.9-0.95;
patterns that rely on a name or context (an AWS secret key after ``secret``) score
0.8-0.85. ``invalidate_result`` drops the look-alikes each pattern is known to catch
(placeholders such as ``ghp_xxxx…``, hyphenated words after ``sk-``).

(Over 400 lines because it is a table of vendor formats; each class is a few lines.)

Over 400 lines: mostly data: the vendors' key formats, one pattern table each.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import ClassVar

from presidio_analyzer import Pattern

from .base import SecretRecognizer
from .credentials import (
    AzureKeyRecognizer,
    ConnectionStringPasswordRecognizer,
    EnvSecretRecognizer,
    HttpCredentialRecognizer,
)
from .placeholders import is_placeholder

# Most credentials hold no whitespace: they need no reach, the pre-scan's window is the
# whitespace-delimited token around the trigger (see base.py).

# A token character class for most vendor keys, and "not preceded/followed by one".
_TOK = r"A-Za-z0-9_\-"


def _has_digit_and_letter(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _masked(body: str) -> bool:
    """A key body that is a placeholder (``ghp_xxxx…``, ``sk_live_***``) or one repeated
    character class: documentation, not a key."""
    return is_placeholder(body) or len(set(body.lower())) <= 2


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
        return not _has_digit_and_letter(pattern_text[3:]) or _masked(pattern_text[3:])


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
        return not _has_digit_and_letter(pattern_text[7:]) or _masked(pattern_text[7:])


class AwsAccessKeyIdRecognizer(SecretRecognizer):
    """Access key ids: a four-letter prefix naming the kind (AKIA long-term, ASIA temporary,
    and the other unique-id prefixes) and 16 upper-case letters or digits."""

    ENTITY = "AWS_ACCESS_KEY_ID"
    _PREFIXES = "AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA|A3T[A-Z0-9]"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "AWS access key id", rf"(?<![A-Z0-9])(?:{_PREFIXES})[A-Z0-9]{{16}}(?![A-Z0-9])", 0.9
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["aws", "access", "key"]
    TRIGGER = r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA|3T[A-Z0-9])[A-Z0-9]"

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

    def invalidate_result(self, pattern_text: str) -> bool:
        return _masked(pattern_text.split("_", 1)[1])


class SlackTokenRecognizer(SecretRecognizer):
    """Bot, user, legacy and configuration tokens (``xoxb-``, ``xoxp-``, ``xoxe.xoxp-1-``),
    app-level tokens (``xapp-1-A…-…-…``) and incoming-webhook URLs (which carry their own
    secret in the path)."""

    ENTITY = "SLACK_TOKEN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxo-, xoxe-, xoxe.xoxp-)",
            r"(?<![A-Za-z0-9])(?:xoxe\.)?xox[abeoprs]-[A-Za-z0-9][A-Za-z0-9-]{14,250}"
            r"(?![A-Za-z0-9-])",
            0.9,
        ),
        Pattern(
            "Slack legacy workspace token (xoxa-, xoxr-)",
            r"(?<![A-Za-z0-9])xox[ar]-(?:[0-9]-)?[A-Za-z0-9]{8,48}(?![A-Za-z0-9-])",
            0.9,
        ),
        Pattern(
            "Slack app-level token (xapp-)",
            r"(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9]{6,20}-\d{6,20}-[A-Za-z0-9]{16,128}(?![A-Za-z0-9])",
            0.95,
        ),
        Pattern(
            "Slack webhook URL",
            r"(?<![A-Za-z0-9.])(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"[A-Za-z0-9+/_\-]{20,120}",
            0.95,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["slack", "token"]
    TRIGGER = None
    TRIGGER_LITERALS = (
        "xoxa-", "xoxb-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-", "hooks.slack.com/"
    )  # fmt: skip

    def invalidate_result(self, pattern_text: str) -> bool:
        if "hooks.slack.com/" in pattern_text:
            return _masked(pattern_text.rsplit("/", 1)[-1])
        body = pattern_text.split("-", 1)[1]
        if body[1:2] == "-":
            body = body[2:]  # xoxe.xoxp-1-…, xapp-1-…: the version is not the secret
        if pattern_text.endswith("-"):
            return True  # cut short by a mask: xoxp-…-####
        return not any(c.isdigit() for c in body) or is_placeholder(body) or "xxxx" in body.lower()


class StripeKeyRecognizer(SecretRecognizer):
    """Secret and restricted keys (``sk_live_``, ``rk_test_``, ``sk_prod_``) and webhook
    signing secrets (``whsec_``). Publishable keys (``pk_``) are public by design."""

    ENTITY = "STRIPE_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Stripe secret or restricted key",
            r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9_])",
            0.95,
        ),
        Pattern(
            "Stripe webhook signing secret",
            r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{24,128}(?![A-Za-z0-9_])",
            0.95,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["stripe", "key"]
    TRIGGER = None
    TRIGGER_LITERALS = ("k_live_", "k_test_", "k_prod_", "whsec_")

    def invalidate_result(self, pattern_text: str) -> bool:
        body = pattern_text.rsplit("_", 1)[1]
        return _masked(body) or not _has_digit_and_letter(body)


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

    def invalidate_result(self, pattern_text: str) -> bool:
        return _masked(pattern_text[4:])


class GitLabTokenRecognizer(SecretRecognizer):
    """GitLab's prefixed tokens (personal, project, group, deploy, runner, CI job, feed,
    incoming mail, agent, OAuth app, SCIM, feature flag) and runner registration tokens."""

    ENTITY = "GITLAB_TOKEN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "GitLab token (glpat-, gldt-, glrt-, glptt-, glcbt-, glft-, glimt-, glagent-, …)",
            r"(?<![A-Za-z0-9_\-])(?:(?:glpat|gldt|glrt|glft|glsoat|glffct)-[A-Za-z0-9_\-]{20,300}"
            r"(?:\.[0-9a-z]{9})?|glimt-[A-Za-z0-9_\-]{25}|glagent-[A-Za-z0-9_\-]{50}"
            r"|gloas-[A-Za-z0-9_\-]{64}|glptt-[0-9a-f]{40}|glcbt-[0-9a-zA-Z]{1,5}_[A-Za-z0-9_\-]{20})"
            r"(?![A-Za-z0-9_\-])",
            0.95,
        ),
        Pattern(
            "GitLab runner registration token (GR1348941)",
            r"(?<![A-Za-z0-9_\-])GR1348941[A-Za-z0-9_\-]{20,64}(?![A-Za-z0-9_\-])",
            0.95,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["gitlab", "token"]
    TRIGGER = None
    TRIGGER_LITERALS = (
        "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-", "glimt-", "glagent-", "gloas-",
        "glsoat-", "glffct-", "GR1348941",
    )  # fmt: skip

    def invalidate_result(self, pattern_text: str) -> bool:
        body = pattern_text.split("-", 1)[1] if "-" in pattern_text[:9] else pattern_text[9:]
        return _masked(body)


#: Other vendors' tokens with a prefix only their issuer uses: (what, pattern). The
#: list is gitleaks' and detect-secrets' rules with a unique prefix, minus the few whose
#: format is too loose to tell from an identifier without the vendor's name next to it.
_VENDOR_FORMATS: tuple[tuple[str, str], ...] = (
    ("Hugging Face token", r"hf_[A-Za-z]{34}"),
    ("Hugging Face organization token", r"api_org_[A-Za-z]{34}"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI upload token", r"pypi-AgE[A-Za-z0-9_\-]{60,1000}"),
    ("Twilio API key", r"SK[0-9a-f]{32}"),
    ("SendGrid API key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("DigitalOcean token", r"do[opr]_v1_[a-f0-9]{64}"),
    ("Shopify token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("Mailgun key", r"(?:key|pubkey)-[a-f0-9]{32}"),
    ("Mailchimp API key", r"[a-f0-9]{32}-us[0-9]{1,2}"),
    ("Databricks token", r"dapi[a-f0-9]{32}(?:-[0-9])?"),
    ("Doppler token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"),
    ("Dynatrace token", r"dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}"),
    ("Linear API key", r"lin_api_[A-Za-z0-9]{40}"),
    ("New Relic key", r"NR(?:AK|II|JS)-[A-Za-z0-9\-]{19,32}"),
    ("Notion token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    ("Postman API key", r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    ("Pulumi token", r"pul-[a-f0-9]{40}"),
    ("ReadMe API key", r"rdme_[a-z0-9]{70}"),
    ("RubyGems API key", r"rubygems_[a-f0-9]{48}"),
    ("Sentry token", r"sntryu_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/=_]{60,400}"),
    ("SonarQube token", r"sq[pua]_[a-f0-9]{40}"),
    ("Sourcegraph token", r"sgp_(?:[a-fA-F0-9]{16}_)?[a-fA-F0-9]{40}"),
    ("Square token", r"(?:sq0atp|sq0csp)-[A-Za-z0-9_\-]{22,60}|EAAA[A-Za-z0-9_\-]{56,60}"),
    ("PlanetScale token", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_=.\-]{32,64}"),
    ("Prefect token", r"pnu_[A-Za-z0-9]{36}"),
    ("Perplexity API key", r"pplx-[A-Za-z0-9]{48}"),
    ("xAI API key", r"xai-[A-Za-z0-9]{80}"),
    ("Groq API key", r"gsk_[A-Za-z0-9]{52}"),
    ("Replicate token", r"r8_[A-Za-z0-9]{37}"),
    ("Grafana token", r"glc_[A-Za-z0-9+/]{32,400}={0,3}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("Grafana API key", r"eyJrIjoi[A-Za-z0-9]{70,400}={0,3}"),
    ("Terraform Cloud token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}"),
    ("HashiCorp Vault token", r"hv[sb]\.[A-Za-z0-9_\-]{90,300}"),
    ("age secret key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    (
        "1Password secret key",
        r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})(?:-[A-Z0-9]{5}){3}",
    ),
    ("1Password service account token", r"ops_eyJ[A-Za-z0-9+/]{250,}={0,3}"),
    ("Atlassian API token", r"ATATT3[A-Za-z0-9_\-=]{186}"),
    ("Artifactory key", r"AKCp[A-Za-z0-9]{69}|cmVmd[A-Za-z0-9]{59}"),
    ("Alibaba access key id", r"LTAI[A-Za-z0-9]{20}"),
    ("Clojars token", r"CLOJARS_[A-Za-z0-9]{60}"),
    ("Duffel token", r"duffel_(?:test|live)_[A-Za-z0-9_=\-]{43}"),
    ("EasyPost key", r"EZ[AT]K[A-Za-z0-9]{54}"),
    ("Flutterwave key", r"FLWSECK_TEST-[a-hA-H0-9]{12,32}(?:-X)?"),
    ("Fly.io token", r"fo1_[A-Za-z0-9_\-]{43}|fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3}"),
    ("Frame.io token", r"fio-u-[A-Za-z0-9_=\-]{64}"),
    ("Heroku API key", r"HRKU-AA[A-Za-z0-9_\-]{58}"),
    ("Infracost token", r"ico-[A-Za-z0-9]{32}"),
    ("42 client secret", r"s-s4t2(?:ud|af)-[a-fA-F0-9]{64}"),
    ("Octopus Deploy key", r"API-[A-Z0-9]{26}"),
    ("OpenShift token", r"sha256~[A-Za-z0-9_\-]{43}"),
    ("Scalingo token", r"tk-us-[A-Za-z0-9_\-]{48}"),
    ("Brevo (Sendinblue) key", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("SettleMint token", r"sm_(?:aat|pat|sat)_[A-Za-z0-9]{16}"),
    ("Shippo token", r"shippo_(?:live|test)_[a-fA-F0-9]{40}"),
    ("Typeform token", r"tfp_[A-Za-z0-9_=.\-]{59}"),
    ("Cloudflare origin CA key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    ("Adobe client secret", r"p8e-[A-Za-z0-9]{32}"),
    ("ClickHouse Cloud key", r"4b1d[A-Za-z0-9]{38}"),
    ("AWS Bedrock API key", r"ABSK[A-Za-z0-9+/]{109,269}={0,2}"),
    (
        "Discord webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68}",
    ),
    (
        "Microsoft Teams webhook",
        r"https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/\-]{100,300}",
    ),
    ("Telegram bot token", r"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}"),
    ("Facebook page token", r"EAA[MC][A-Za-z0-9]{100,400}"),
)


class VendorTokenRecognizer(SecretRecognizer):
    """Every other vendor's prefixed token (``_VENDOR_FORMATS``): one alternation, with
    the prefixes as the pre-scan's trigger."""

    ENTITY = "VENDOR_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "vendor token with a unique prefix",
            r"(?<![A-Za-z0-9_\-.~+/])(?:"
            + "|".join(f"(?:{rx})" for _, rx in _VENDOR_FORMATS)
            + r")(?![A-Za-z0-9_\-+/=])",
            0.9,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["token", "key", "api"]
    #: Literal prefixes, found with ``str.find`` (an alternation of sixty literals costs
    #: the ``re`` module a try at nearly every position of the text).
    TRIGGER = None
    TRIGGER_LITERALS = (
        "hf_", "api_org_", "npm_", "pypi-", "SK", "SG.", "dop_v1_", "doo_v1_", "dor_v1_",
        "shpat_", "shpca_", "shppa_", "shpss_", "key-", "-us", "dapi", "dp.", "dt0c01.",
        "lin_api_", "NRAK-", "NRII-", "NRJS-", "ntn_", "PMAK-", "pul-", "rdme_", "rubygems_",
        "sntry", "sgp_", "sq0", "sqp_", "squ_", "sqa_", "EAAA", "pscale_", "pnu_", "pplx-",
        "xai-", "gsk_", "r8_",
        "glc_", "glsa_", "eyJrIjoi", ".atlasv1.", "hvs.", "hvb.", "AGE-SECRET", "A3-",
        "ops_eyJ", "ATATT3", "AKCp", "cmVmd", "LTAI", "CLOJARS_", "duffel_", "EZAK", "EZTK",
        "FLWSECK", "fo1_", "fm1", "fm2", "fio-u-", "HRKU-", "ico-", "s-s4t2", "API-",
        "sha256~", "tk-us-", "xkeysib-", "sm_", "shippo_", "tfp_", "v1.0-", "p8e-", "4b1d",
        "ABSK", "/api/webhooks/", ".webhook.office.com", ":AA", "EAAM", "EAAC",
    )  # fmt: skip

    def invalidate_result(self, pattern_text: str) -> bool:
        if _masked(pattern_text[-16:]):
            return True
        # all-letter or all-digit bodies are words and numbers (Twilio's SK + hex, the
        # Mailchimp hex, Octopus' API-…: a real one mixes letters and digits)
        tail = pattern_text[-24:]
        return not _has_digit_and_letter(tail) and not pattern_text.startswith(("hf_", "api_org_"))


class DiscordBotTokenRecognizer(SecretRecognizer):
    """Discord bot tokens: the bot's id in base64, a timestamp and an HMAC, dot-joined."""

    ENTITY = "VENDOR_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Discord bot token",
            r"(?<![A-Za-z0-9_\-.])[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\."
            r"[A-Za-z0-9_\-]{27,38}(?![A-Za-z0-9_\-])",
            0.85,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["discord", "bot", "token"]
    TRIGGER = r"\.[A-Za-z0-9_\-]{6}\."

    def invalidate_result(self, pattern_text: str) -> bool:
        return _masked(pattern_text[-27:]) or not _has_digit_and_letter(pattern_text)


class FacebookAccessTokenRecognizer(SecretRecognizer):
    """Facebook app access tokens: the app id, ``|`` (or ``%7C``), and the app secret."""

    ENTITY = "VENDOR_API_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Facebook app access token",
            r"(?<![0-9])[0-9]{15,16}(?:\||%7C)[A-Za-z0-9_\-]{27,40}(?![A-Za-z0-9_\-])",
            0.85,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["facebook", "token"]
    TRIGGER = r"\|[A-Za-z0-9_\-]{27}|%7C[A-Za-z0-9_\-]{27}"

    def invalidate_result(self, pattern_text: str) -> bool:
        return _masked(pattern_text[-27:])


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

    def invalidate_result(self, pattern_text: str) -> bool:
        # armour around nothing ("anything", an empty body) is an example, not a key
        body = pattern_text.split("-----", 2)[-1].rsplit("-----END", 1)[0]
        return sum(c.isalnum() or c in "+/" for c in body) < 32


class JwtRecognizer(SecretRecognizer):
    """JSON Web Tokens: three base64url parts whose first two are JSON objects (``eyJ`` is
    ``{"`` encoded). Validated when the header decodes to JSON naming an ``alg``."""

    ENTITY = "JWT"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "JWT (header.payload.signature)",
            # a full stop after the signature ends a sentence, not the token
            rf"(?<![{_TOK}.])eyJ[{_TOK}]{{8,}}\.eyJ[{_TOK}]{{8,}}(?:\.[{_TOK}]*)?"
            rf"(?![{_TOK}]|\.[{_TOK}])",
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
    GitLabTokenRecognizer,
    SlackTokenRecognizer,
    StripeKeyRecognizer,
    GoogleApiKeyRecognizer,
    PrivateKeyRecognizer,
    JwtRecognizer,
    VendorTokenRecognizer,
    DiscordBotTokenRecognizer,
    FacebookAccessTokenRecognizer,
    AzureKeyRecognizer,
    HttpCredentialRecognizer,
    ConnectionStringPasswordRecognizer,
    EnvSecretRecognizer,
    DeviceCredentialRecognizer,
)
