"""Credentials in any context (issue 20): exact spans per format and context, the
placeholder and masked values that must never be flagged, and the pattern fixes.

Every value here is made up for the test (random letters, or the rule sets' published
fake examples); none is a real credential.
"""

from __future__ import annotations

import base64

import pytest

from warden.dlp import DlpProfile
from warden.dlp.engine import Detector
from warden.dlp.profiles import PII_TYPES, SECRET_TYPES

# fake values, built so that no scanner of this repository flags the source itself
GHP = "ghp_" + "R8kq2Lx9Vw3Tn5Bz7Yc1Hd4Jf6Mg0Ps" + "A1b2c"
GLPAT = "glpat-" + "x7Kq2Lm9Nw3Rt5Vz8Yb1"
XAPP = (
    "xapp-1-A052FGTS2DL-5171572773297-"
    + "610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879eb5b55e"
)
XOXB = "xoxb-" + "781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"
WHSEC = "whsec_" + "5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
SK_LIVE = "sk_live_" + "51OuEMLAlTWGaDypq4P5cuDHbuKeG4tAG"
AIZA = "AIza" + "SyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
HF = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH"
NPM = "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PYPI = "pypi-AgEIcHlwaS5vcmc" + "CJGU2ZTg1NWQwLTQ2NzUtNDU5Mi05YjYxLTc0ZjljMjYxNDhkNAACKlsz"
SENDGRID = "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"
TWILIO = "SK" + "8f3a91c07be24d56a1e9c3f08d7b6e25"
DOP = "dop_v1_" + "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988"
SHPAT = "shpat_" + "a1b2c3d4e5f60718293a4b5c6d7e8f90"
AZ_KEY = "lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1F8j8rQ=="
RANDOM = "q8Zr2Vt6Wm4Xk9Lp3Nb7"
BASIC = base64.b64encode(b"deploy:Zq7-pW3rT9vK").decode()
PW = "Zq7-pW3rT9vK"


def detector() -> Detector:
    return Detector(DlpProfile.model_validate({"entities": dict.fromkeys(SECRET_TYPES, "redact")}))


DETECTOR = detector()


def spans(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in DETECTOR.detect(text)]


# (context, text, [(entity type, value)]): Presidio style, the exact value and nothing else
CASES = [
    # vendor formats
    ("GitHub PAT in prose", f"my token is {GHP}, thanks", [("GITHUB_TOKEN", GHP)]),
    ("GitLab PAT in a header", f"PRIVATE-TOKEN: {GLPAT}", [("GITLAB_TOKEN", GLPAT)]),
    ("Slack app token (xapp-)", f'"token1": "{XAPP}"', [("SLACK_TOKEN", XAPP)]),
    ("Slack bot token in YAML", f"slack:\n  bot: {XOXB}\n", [("SLACK_TOKEN", XOXB)]),
    (
        "Slack webhook URL",
        "curl -X POST https://hooks.slack.com/services/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",
        [
            (
                "SLACK_TOKEN",
                "https://hooks.slack.com/services/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",
            )
        ],
    ),
    ("Stripe webhook secret (whsec_)", f"STRIPE_WEBHOOK_SECRET={WHSEC}\n", [("STRIPE_KEY", WHSEC)]),
    ("Stripe live key in code", f'stripe.api_key = "{SK_LIVE}"', [("STRIPE_KEY", SK_LIVE)]),
    ("Google key in a URL query", f"GET /maps?key={AIZA}&q=x", [("GOOGLE_API_KEY", AIZA)]),
    ("JWT followed by a full stop", f"The token is {JWT}.", [("JWT", JWT)]),
    ("Hugging Face token", f"HF_TOKEN={HF}", [("VENDOR_API_KEY", HF)]),
    ("npm token in .npmrc", f"//registry.npmjs.org/:_authToken={NPM}", [("VENDOR_API_KEY", NPM)]),
    (
        "PyPI token in .pypirc",
        f"[pypi]\nusername = __token__\npassword = {PYPI}\n",
        [("VENDOR_API_KEY", PYPI)],
    ),
    ("SendGrid key", f"sg = SendGridAPIClient('{SENDGRID}')", [("VENDOR_API_KEY", SENDGRID)]),
    ("Twilio API key", f"twilio api key {TWILIO} for sms", [("VENDOR_API_KEY", TWILIO)]),
    ("DigitalOcean PAT", f"export DIGITALOCEAN_TOKEN={DOP}", [("VENDOR_API_KEY", DOP)]),
    ("Shopify token", f"X-Shopify-Access-Token: {SHPAT}", [("VENDOR_API_KEY", SHPAT)]),
    # HTTP
    (
        "curl bearer header",
        f"curl -H 'Authorization: Bearer {RANDOM}' https://api.example.net/v1",
        [("HTTP_CREDENTIAL", RANDOM)],
    ),
    ("basic auth header", f"Authorization: Basic {BASIC}\r\n", [("HTTP_CREDENTIAL", BASIC)]),
    (
        "X-Api-Key header",
        f'curl -H "X-Api-Key: {RANDOM}" https://x.example',
        [("HTTP_CREDENTIAL", RANDOM)],
    ),
    ("curl -u", f"curl -u deploy:{PW} https://ci.example.net", [("HTTP_CREDENTIAL", PW)]),
    (
        "docker config auths",
        f'{{"auths": {{"registry.example.com": {{"auth": "{BASIC}"}}}}}}',
        [("HTTP_CREDENTIAL", BASIC)],
    ),
    # connection strings
    ("postgres URL", f"postgres://app:{PW}@db.internal:5432/app", [("PASSWORD", PW)]),
    ("redis URL with an empty user", f"REDIS_URL=redis://:{PW}@cache:6379/0", [("PASSWORD", PW)]),
    ("mongodb+srv URL", f"mongodb+srv://admin:{PW}@cluster0.x.mongodb.net/db", [("PASSWORD", PW)]),
    (
        "Azure storage connection string",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZ_KEY};EndpointSuffix=core.windows.net",
        [("AZURE_KEY", AZ_KEY)],
    ),
    (
        "Azure SAS URL",
        "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=q8Zr2Vt6Wm4Xk9Lp3Nb7Yc1Hd4Jf6Mg0%3D",
        [("AZURE_KEY", "q8Zr2Vt6Wm4Xk9Lp3Nb7Yc1Hd4Jf6Mg0%3D")],
    ),
    # secret-named settings anywhere in a line
    ("SMTP_PASS in .env", f"SMTP_HOST=mail\nSMTP_PASS={PW}\n", [("ENV_SECRET", PW)]),
    ("DATABASE_PASS mid-line", f"docker run -e DATABASE_PASS={PW} app", [("ENV_SECRET", PW)]),
    ("LDAP_BIND_PW", f"export LDAP_BIND_PW='{PW}'", [("ENV_SECRET", PW)]),
    (
        "Dockerfile ENV with a space",
        f"FROM python:3.13\nENV API_TOKEN {RANDOM}\n",
        [("ENV_SECRET", RANDOM)],
    ),
    ("Dockerfile ARG", f"ARG NPM_PASSWORD={PW}\n", [("ENV_SECRET", PW)]),
    (
        "kube secret token",
        f"users:\n- name: ci\n  user:\n    token: {RANDOM}\n",
        [("ENV_SECRET", RANDOM)],
    ),
    (
        "kube client-key-data",
        "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFB\n",
        [("ENV_SECRET", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFB")],
    ),
    ("JSON key", f'{{"client_secret": "{RANDOM}"}}', [("ENV_SECRET", RANDOM)]),
    ("Go short assignment", f"apiToken := `{RANDOM}`", [("ENV_SECRET", RANDOM)]),
    (
        "URL query access_token",
        f"GET /cb?state=1&access_token={RANDOM}&x=1",
        [("ENV_SECRET", RANDOM)],
    ),
    (
        "log line",
        f"2024-05-01T10:00:00Z WARN auth failed user=bob password={PW} ip=-",
        [("ENV_SECRET", PW)],
    ),
    (
        "stack trace locals",
        f'  File "app.py", line 12, in connect\n    db.login(user="bob", passwd="{PW}")\n',
        [("ENV_SECRET", PW)],
    ),
    (
        "aws configure file",
        "[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY\n",
        [("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY")],
    ),
    (
        "high-entropy value after a secret word",
        f"the api key is {RANDOM} ok",
        [("ENV_SECRET", RANDOM)],
    ),
    ("password in prose", f"my password is {PW} thanks", [("ENV_SECRET", PW)]),
    (
        "Slack legacy workspace token",
        '"token": "xoxa-2-q8Zr2Vt6Wm4X"',
        [("SLACK_TOKEN", "xoxa-2-q8Zr2Vt6Wm4X")],
    ),
    (
        "SonarQube login under a weak name",
        'SONAR_LOGIN := "05227664AFEBDCB7529673853BAECFFA45288319"',
        [("ENV_SECRET", "05227664AFEBDCB7529673853BAECFFA45288319")],
    ),
    ("CLI flag --password=", f"mysql -u root --password={PW} -h db", [("HTTP_CREDENTIAL", PW)]),
    (
        "docker login -p",
        f"docker login -u bob -p {PW} registry.example.com",
        [("HTTP_CREDENTIAL", PW)],
    ),
    (
        "requests auth tuple",
        f"requests.get(url, auth=('admin', '{PW}'))",
        [("HTTP_CREDENTIAL", PW)],
    ),
    (
        "ADO.NET connection string",
        f"Server=tcp:db.example.net,1433;User ID=app;Password={PW};Encrypt=True;",
        [("ENV_SECRET", PW)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_credentials_in_context(text: str, expected: list[tuple[str, str]]) -> None:
    assert spans(text) == expected


#: Placeholders, masked values and code: never a finding.
PLACEHOLDERS = [
    "OPENAI_API_KEY=sk-...",
    "SLACK_BOT_TOKEN=xoxb-***",
    "api_key = YOUR_API_KEY",
    'headers = {"Authorization": "Bearer <token>"}',
    "Authorization: Bearer ${TOKEN}",
    "curl -H 'Authorization: Bearer $TOKEN' https://x.example",
    "password: {{ secret }}",
    "DB_PASSWORD=changeme",
    "token: xxxxxxxxxxxxxxxx",
    "password=****",
    'client_secret: "example"',
    "api_key=None",
    '"token": null',
    "secret: true",
    "password: false",
    "pw=abc",
    "aws_secret_access_key     ****************ABCD shared-credentials-file",
    "secret_key     ****************ABCD shared-credentials-file",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "glpat-xxxxxxxxxxxxxxxxxxxx",
    "curl -u username:password https://x.example",
    'curl -u "${_username}:${_password}"',
    "redis://:${REDIS_PASSWORD}@cache:6379",
    "password = os.environ['DB_PASSWORD']",
    "token = self.token",
    "api_key = settings.API_KEY",
    "password = pwd_from_vault",
    "max_tokens: 4096\ntoken_type: bearer\nTOKEN_TTL=3600",
    "secret_name = os.environ['SECRET_NAME']",
    "public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx user@host",
    "Authorization: Bearer your-token-here",
    "X-Api-Key: <your-api-key>",
    "?api_key=YOUR_KEY&q=1",
    "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
    "the password is wrong",
    "the password is correct.",
    "mkdir -p build && ssh -p 2222 host",
    "--password=$DB_PASSWORD",
    "reset your password at https://example.com/reset?token=",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholders_are_never_flagged(text: str) -> None:
    assert spans(text) == []


# --- pattern fixes (issue 20, item 3) -----------------------------------------------------


def pii(text: str, regions: tuple[str, ...] = ("US",)) -> list[tuple[str, str]]:
    profile = DlpProfile.model_validate(
        {"entities": dict.fromkeys(PII_TYPES, "redact"), "phone_regions": list(regions)}
    )
    found = Detector(profile).detect(text)
    return [(f.entity_type, text[f.start : f.end]) for f in found if f.entity_type in PII_TYPES]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("https://shop.example.com/unsubscribe?email=anna.k@example.de&x=1", "anna.k@example.de"),
        ("GET /api/users?email=a@b.de HTTP/1.1", "a@b.de"),
        ("/reset?user=1&mail=jo.doe+x@mail.example.org", "jo.doe+x@mail.example.org"),
    ],
)
def test_email_inside_a_url_query(text: str, address: str) -> None:
    assert pii(text) == [("EMAIL_ADDRESS", address)]


@pytest.mark.parametrize(
    "card",
    [
        "501800000009",  # Maestro, 12 digits
        "6759 6498 2648",  # Maestro, 12 digits grouped
        "378282246310005",  # Amex, 15 digits
        "3782 822463 10005",  # Amex, 4-6-5 groups
        "4111111111111111110",  # Visa, 19 digits
        "6212 3456 7890 1234 569",  # UnionPay, 19 digits grouped
    ],
)
def test_cards_of_12_15_and_19_digits(card: str) -> None:
    assert pii(f"card {card} please") == [("CREDIT_CARD", card)]


def test_card_lengths_still_need_luhn() -> None:
    assert pii("card 4111111111111111111 and 501800000001 please") == []


@pytest.mark.parametrize(
    "text",
    [
        "2017-10-07 21:30:00 started",
        "at 2017-10-07 21 o'clock",
        "07.10.2017 21:30",
        "10/07/2017 21:30",
        "[2026-01-02 03:04:05,678] INFO ready",
    ],
)
def test_timestamps_are_not_phone_numbers(text: str) -> None:
    assert pii(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("ruf an: 030 12345678", "030 12345678"),  # DE, not in the profile's regions
        ("call +41 (0)27 240 04 99", "+41 (0)27 240 04 99"),
        ("tel 020 7946 0958", "020 7946 0958"),  # GB
        ("whatsapp +91 98765 43210", "+91 98765 43210"),  # IN
    ],
)
def test_phones_at_least_stock_presidios_regions(text: str, number: str) -> None:
    assert pii(text) == [("PHONE_NUMBER", number)]


def test_uuid_groups_are_not_cards() -> None:
    # 6231-4240-8243 passes Luhn; inside a UUID it is not a 12-digit Maestro card
    assert pii("x.id != 'd7b0d0e2-6231-4240-8243-c4c123c28e51'") == []
