"""Exact spans and scores of each recognizer: positives, and the near misses each one
must leave alone."""

from __future__ import annotations

import pytest

from warden.dlp.recognizers import credentials, pii, secrets
from warden.dlp.recognizers.base import Triggered

AKIA = "AKIA2E0A8F3B244C9986"
SK_PROJ = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w"
SK_ANT = "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"
GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WDC = "wdc_" + "Q2x1c3Rlci1zZWNyZXQtdG9rZW4tZm9yLXRlc3Rz_-AbC"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1b2c3d4e5f6\nq7r8s9t0u1v2w3x4\n-----END RSA PRIVATE KEY-----"


def found(recognizer: Triggered, text: str) -> list[tuple[str, float]]:
    results = recognizer.analyze(text, recognizer.supported_entities, None)  # type: ignore[attr-defined]
    return sorted((text[r.start : r.end], r.score) for r in results)


SECRET_CASES = [
    # (recognizer, text, [(value, score)])
    (secrets.OpenAiKeyRecognizer, f'client = OpenAI(api_key="{SK_PROJ}")', [(SK_PROJ, 0.9)]),
    (secrets.OpenAiKeyRecognizer, "sk-" + "Tq3" * 16, [("sk-" + "Tq3" * 16, 0.9)]),
    (secrets.OpenAiKeyRecognizer, "pip install scikit sk-learn-pipeline-for-everything", []),
    (secrets.OpenAiKeyRecognizer, f"task-{SK_PROJ[3:]}", []),
    (secrets.OpenAiKeyRecognizer, SK_ANT, []),
    (secrets.OpenAiKeyRecognizer, "sk-short1", []),
    (secrets.AnthropicKeyRecognizer, f"ANTHROPIC_API_KEY={SK_ANT}", [(SK_ANT, 0.95)]),
    (secrets.AnthropicKeyRecognizer, "sk-ant-docs-are-here-and-there-for-you", []),
    (secrets.AwsAccessKeyIdRecognizer, f"aws_access_key_id = {AKIA}", [(AKIA, 0.9)]),
    (secrets.AwsAccessKeyIdRecognizer, "ASIAY34FZKBOKMUTVV7A", [("ASIAY34FZKBOKMUTVV7A", 0.9)]),
    (secrets.AwsAccessKeyIdRecognizer, f"{AKIA}X", []),  # 21 characters
    (secrets.AwsAccessKeyIdRecognizer, "AKIAEXAMPLEEXAMPLEEX", []),  # no digit
    (secrets.AwsAccessKeyIdRecognizer, AKIA.lower(), []),  # case-sensitive
    (secrets.AwsSecretKeyRecognizer, f"aws_secret_access_key = {AWS_SECRET}", [(AWS_SECRET, 0.85)]),
    (secrets.AwsSecretKeyRecognizer, f'"SecretAccessKey": "{AWS_SECRET}"', [(AWS_SECRET, 0.85)]),
    (secrets.AwsSecretKeyRecognizer, f"checksum = {AWS_SECRET}", []),  # no secret name
    (secrets.AwsSecretKeyRecognizer, "secret: " + "a" * 40, []),  # not base64 enough
    (secrets.GitHubTokenRecognizer, f"GITHUB_TOKEN={GHP}", [(GHP, 0.95)]),
    (
        secrets.GitHubTokenRecognizer,
        "github_pat_" + "A1b2" * 20,
        [("github_pat_" + "A1b2" * 20, 0.95)],
    ),
    (secrets.GitHubTokenRecognizer, "ghp_tooShort123", []),
    (
        secrets.SlackTokenRecognizer,
        "xoxb-1234567890-0987654321-AbCdEfGh",
        [("xoxb-1234567890-0987654321-AbCdEfGh", 0.9)],
    ),
    (secrets.SlackTokenRecognizer, "xoxb-documentation-page", []),
    (
        secrets.StripeKeyRecognizer,
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        [("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", 0.95)],
    ),
    (secrets.StripeKeyRecognizer, "rk_live_" + "Ab1" * 9, [("rk_live_" + "Ab1" * 9, 0.95)]),
    (secrets.StripeKeyRecognizer, "sk_live_short", []),
    (
        secrets.GoogleApiKeyRecognizer,
        "key=AIzaSyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6",
        [("AIzaSyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6", 0.95)],
    ),
    (secrets.GoogleApiKeyRecognizer, "AIzaSyD-too-short", []),
    (secrets.PrivateKeyRecognizer, f"here:\n{PEM}\nthanks", [(PEM, 0.95)]),
    (
        secrets.PrivateKeyRecognizer,
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
        [],
    ),
    (secrets.JwtRecognizer, f"Authorization: Bearer {JWT}", [(JWT, 1.0)]),
    (
        secrets.JwtRecognizer,
        "eyJub3QiOiJqd3QifQ.eyJzdWIiOiIxMjM0In0.sig",
        [("eyJub3QiOiJqd3QifQ.eyJzdWIiOiIxMjM0In0.sig", 0.8)],
    ),
    (secrets.JwtRecognizer, "eyJhbGciOiJIUzI1NiJ9", []),
    (
        credentials.ConnectionStringPasswordRecognizer,
        "postgres://app:S3cr3t!x@db.internal:5432/app",
        [("S3cr3t!x", 0.85)],
    ),
    (credentials.ConnectionStringPasswordRecognizer, "amqp://guest:${RABBIT_PASSWORD}@mq:5672", []),
    (credentials.ConnectionStringPasswordRecognizer, "https://example.com/a:b@c", []),
    (credentials.EnvSecretRecognizer, "DB_PASSWORD=hunter2xyz\n", [("hunter2xyz", 0.8)]),
    (credentials.EnvSecretRecognizer, "DB_PASSWORD=B#q0Cs^BQd # comment\n", [("B#q0Cs^BQd", 0.8)]),
    (
        credentials.EnvSecretRecognizer,
        "  export GITHUB_TOKEN=abcd1234efgh\n",
        [("abcd1234efgh", 0.8)],
    ),
    (
        credentials.EnvSecretRecognizer,
        'client_secret: "my long secret value"',
        [("my long secret value", 0.8)],
    ),
    (credentials.EnvSecretRecognizer, 'cfg = {"api_key": "k-123456"}', [("k-123456", 0.8)]),
    (credentials.EnvSecretRecognizer, "max_tokens: 4096\ntoken_type: bearer\n", []),
    (credentials.EnvSecretRecognizer, "password = os.environ['DB_PASSWORD']\n", []),
    # anywhere in a line, not only at its start (issue 20)
    (credentials.EnvSecretRecognizer, "echo x DB_PASSWORD=hunter2xyz\n", [("hunter2xyz", 0.8)]),
    (credentials.EnvSecretRecognizer, 'DB_PASSWORD="${DB_PASSWORD}"\n', []),
    (
        credentials.EnvSecretRecognizer,
        "password = pwd_from_vault\n",
        [],
    ),  # code: unquoted is a variable
    (
        secrets.DeviceCredentialRecognizer,
        f"HTTPS_PROXY=http://device:{WDC}@proxy:8080",
        [(WDC, 0.95)],
    ),
    (secrets.DeviceCredentialRecognizer, "wdc_x", []),
]


@pytest.mark.parametrize(("cls", "text", "expected"), SECRET_CASES)
def test_secret_recognizers(
    cls: type[Triggered], text: str, expected: list[tuple[str, float]]
) -> None:
    assert found(cls(), text) == expected


PII_CASES = [
    (
        pii.EmailAddressRecognizer,
        "mail john.doe+x@mail.example.co.uk now",
        [("john.doe+x@mail.example.co.uk", 1.0)],
    ),
    (pii.EmailAddressRecognizer, "user@localhost and @handle", []),
    (pii.CardNumberRecognizer, "card 4111 1111 1111 1111 exp", [("4111 1111 1111 1111", 1.0)]),
    (pii.CardNumberRecognizer, "card 2223-0031-2200-3222.", [("2223-0031-2200-3222", 1.0)]),
    (pii.CardNumberRecognizer, "card 4111 1111 1111 1112", []),  # Luhn fails
    (
        pii.IbanCodeRecognizer,
        "IBAN DE89 3704 0044 0532 0130 00 ok",
        [("DE89 3704 0044 0532 0130 00", 1.0)],
    ),
    (pii.IbanCodeRecognizer, "IBAN GB82WEST12345698765432.", [("GB82WEST12345698765432", 1.0)]),
    (pii.IbanCodeRecognizer, "IBAN DE89370400440532013001", []),  # checksum fails
    (
        pii.IpAddressRecognizer,
        "from 192.168.10.1 and 2001:db8::8a2e:370:7334",
        [("192.168.10.1", 0.6), ("2001:db8::8a2e:370:7334", 0.6)],
    ),
    (pii.IpAddressRecognizer, "version 1.2.3 at 12:33:45", []),
    (pii.SsnRecognizer, "SSN 219-09-9999.", [("219-09-9999", 0.5)]),
    (pii.SsnRecognizer, "SSN 666-12-3456 and 123-45-6789 and 219099999", []),
]


@pytest.mark.parametrize(("cls", "text", "expected"), PII_CASES)
def test_pii_recognizers(
    cls: type[Triggered], text: str, expected: list[tuple[str, float]]
) -> None:
    assert found(cls(), text) == expected


def phones(text: str, regions: tuple[str, ...] = ("US", "GB", "DE")) -> list[tuple[str, float]]:
    return found(pii.RegionalPhoneRecognizer(regions), text)


def test_phone_numbers_in_the_configured_regions() -> None:
    text = "US (415) 555-2671, UK 020 7946 0958, DE 030 12345678, intl +33 1 42 68 53 00."
    assert phones(text) == [
        ("(415) 555-2671", 0.4),
        ("+33 1 42 68 53 00", 0.4),
        ("020 7946 0958", 0.4),
        ("030 12345678", 0.4),
    ]


def test_phone_regions_add_to_presidios_defaults() -> None:
    # Presidio's eight default regions are always searched (recall never below stock's):
    # a German national number is found under a US-only profile; an international one
    # is found in any case
    found_us = phones("030 12345678 or +41 27 240 04 99", ("US",))
    assert found_us == [("+41 27 240 04 99", 0.4), ("030 12345678", 0.4)]


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-03T18:50:04.381Z",
        "GET /api/v1/items/7740 200 301ms",
        "client 167.90.34.120",
        "order 12345",
        "on 2024/05/01 at noon",
        "req=08454386-f7b4-4121-a05d-5098aa0e2b1c",
        "x.id != 'e008023f-0811-4455-9342-e063f8130aa1'",
    ],
)
def test_phone_near_misses(text: str) -> None:
    assert phones(text) == []


def test_every_recognizer_has_prescan_attributes() -> None:
    classes: list[type[Triggered]] = [*secrets.SECRET_RECOGNIZERS, pii.RegionalPhoneRecognizer]
    for cls in classes:
        assert issubclass(cls, Triggered)
        assert cls.REACH_BEFORE >= 0 and cls.REACH_AFTER >= 0
