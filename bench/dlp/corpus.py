"""A seeded synthetic prompt corpus for the DLP benchmark and tests: chat, code snippets,
logs and e-mails from Faker in several locales, with sensitive values inserted at
recorded spans.

Every inserted value is one the pattern recognizers can find in principle (a phone number
valid in its region, a card number of a length the card pattern covers, an SSN that is
not one of the reserved ones): the corpus measures the detectors, not Faker's formats.
Filler holds near misses on purpose: versions, timestamps, ports, durations, UUIDs, git
hashes, ``max_tokens: 4096``, ``S3``/``EKS``, hyphenated ``sk-`` words, code that reads a
secret from the environment.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")
REGIONS = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR"}


@dataclass(frozen=True, slots=True)
class Span:
    entity_type: str
    start: int
    end: int


@dataclass
class Prompt:
    text: str
    spans: list[Span] = field(default_factory=list)
    locale: str = "en_US"


class _Builder:
    """Appends filler and entities, recording each entity's span."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[Span] = []

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    def entity(self, entity_type: str, value: str) -> None:
        self.spans.append(Span(entity_type, self.size, self.size + len(value)))
        self.text(value)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 31 + i)

    # --- values --------------------------------------------------------------------------

    def _tok(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        while True:
            s = "".join(self.rng.choice(alphabet) for _ in range(n))
            if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
                return s

    def email(self, f: Faker) -> str:
        return f.email() if self.rng.random() < 0.7 else f.company_email()

    def phone(self, f: Faker, locale: str) -> str:
        region = REGIONS[locale]
        for _ in range(50):
            raw = f.phone_number()
            try:
                num = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(num) or num.extension:
                continue
            fmt = self.rng.choice(
                [
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.E164,
                ]
            )
            return phonenumbers.format_number(num, fmt)
        return "+1 202-555-0143"  # pragma: no cover

    def card(self, f: Faker) -> str:
        while True:
            n = f.credit_card_number()
            if len(n) == 16:
                break
        style = self.rng.random()
        if style < 0.4:
            return " ".join(n[i : i + 4] for i in range(0, 16, 4))
        if style < 0.6:
            return "-".join(n[i : i + 4] for i in range(0, 16, 4))
        return n

    def iban(self, f: Faker) -> str:
        iban = f.iban()
        if self.rng.random() < 0.5:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def ip(self, f: Faker) -> str:
        return f.ipv6() if self.rng.random() < 0.2 else f.ipv4()

    def ssn(self) -> str:
        return self.fakers["en_US"].ssn()

    def openai(self) -> str:
        if self.rng.random() < 0.5:
            return "sk-proj-" + self._tok(120, string.ascii_letters + string.digits + "_-")
        return "sk-" + self._tok(48)

    def anthropic(self) -> str:
        return "sk-ant-api03-" + self._tok(93, string.ascii_letters + string.digits + "_-") + "AA"

    def aws_id(self) -> str:
        return self.rng.choice(["AKIA", "ASIA"]) + self._tok(16, string.ascii_uppercase + "234567")

    def aws_secret(self) -> str:
        while True:
            s = self._tok(40, string.ascii_letters + string.digits + "/+")
            if any(c.isupper() for c in s) and any(c.islower() for c in s):
                return s

    def github(self) -> str:
        if self.rng.random() < 0.7:
            return self.rng.choice(["ghp_", "gho_", "ghs_"]) + self._tok(36)
        return "github_pat_" + self._tok(22) + "_" + self._tok(59)

    def slack(self) -> str:
        def digits(n: int) -> str:
            return "".join(self.rng.choice(string.digits) for _ in range(n))

        return self.rng.choice(["xoxb-", "xoxp-"]) + f"{digits(11)}-{digits(12)}-{self._tok(24)}"

    def stripe(self) -> str:
        return self.rng.choice(["sk_live_", "rk_live_"]) + self._tok(24)

    def google(self) -> str:
        return "AIza" + self._tok(35, string.ascii_letters + string.digits + "_-")

    def pem(self) -> str:
        body = base64.b64encode(self.rng.randbytes(self.rng.randint(300, 900))).decode()
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        label = self.rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"])
        return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"

    def jwt(self, f: Faker) -> str:
        def part(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = part({"alg": "RS256", "typ": "JWT"})
        payload = part({"sub": f.uuid4(), "iat": f.random_int(1600000000, 1800000000)})
        return f"{header}.{payload}.{self._tok(43, string.ascii_letters + string.digits + '_-')}"

    def password(self) -> str:
        return self._tok(self.rng.randint(10, 20), string.ascii_letters + string.digits + "!#%^*")

    def device_credential(self) -> str:
        return "wdc_" + self._tok(43, string.ascii_letters + string.digits + "_-")

    # --- blocks ----------------------------------------------------------------------------

    def chat(self, b: _Builder, f: Faker, locale: str) -> None:
        r = self.rng.random()
        b.text(f.paragraph(nb_sentences=self.rng.randint(2, 5)) + " ")
        if r < 0.25:
            b.text("You can reach me at ")
            b.entity("EMAIL_ADDRESS", self.email(f))
            b.text(" or on ")
            b.entity("PHONE_NUMBER", self.phone(f, locale))
            b.text(". ")
        elif r < 0.4:
            b.text("Please wire it to IBAN ")
            b.entity("IBAN_CODE", self.iban(f))
            b.text(" before Friday. ")
        elif r < 0.5:
            b.text("My card is ")
            b.entity("CREDIT_CARD", self.card(f))
            b.text(f", expiry {f.credit_card_expire()}. ")
        elif r < 0.58:
            b.text("The applicant's SSN is ")
            b.entity("US_SSN", self.ssn())
            b.text(". ")
        elif r < 0.7:
            b.text(
                "We run on S3 and EKS, the C4 model is in the wiki, see v2.13.1 release "
                f"notes from {f.date()} and the scikit sk-learn-pipeline page. "
            )
        b.text(f.paragraph(nb_sentences=self.rng.randint(1, 4)) + "\n\n")

    def code(self, b: _Builder, f: Faker, locale: str) -> None:
        kind = self.rng.randrange(9)
        if kind == 0:
            b.text('```python\nfrom openai import OpenAI\nclient = OpenAI(api_key="')
            b.entity("OPENAI_API_KEY", self.openai())
            b.text(
                f'")\nresp = client.chat.completions.create(model="gpt-4o", max_tokens=4096,'
                f" temperature=0.{self.rng.randint(1, 9)})\nprint(resp.usage.total_tokens)\n```\n"
            )
        elif kind == 1:
            b.text("```bash\nexport AWS_ACCESS_KEY_ID=")
            b.entity("AWS_ACCESS_KEY_ID", self.aws_id())
            b.text("\nexport AWS_SECRET_ACCESS_KEY=")
            b.entity("AWS_SECRET_ACCESS_KEY", self.aws_secret())
            b.text(f"\naws s3 ls s3://{f.word()}-logs --region eu-west-1\n```\n")
        elif kind == 2:
            b.text("```ini\n[default]\naws_access_key_id = ")
            b.entity("AWS_ACCESS_KEY_ID", self.aws_id())
            b.text("\naws_secret_access_key = ")
            b.entity("AWS_SECRET_ACCESS_KEY", self.aws_secret())
            b.text("\nregion = us-east-1\n```\n")
        elif kind == 3:
            b.text("```env\nDEBUG=false\nPORT=8080\nDATABASE_URL=postgres://app:")
            b.entity("PASSWORD", self.password())
            b.text(f"@db-{self.rng.randint(1, 9)}.internal:5432/app\nDB_PASSWORD=")
            b.entity("ENV_SECRET", self.password())
            b.text("\nGITHUB_TOKEN=")
            b.entity("GITHUB_TOKEN", self.github())
            b.text("\nSTRIPE_API_KEY=")
            b.entity("STRIPE_KEY", self.stripe())
            b.text("\nMAX_TOKENS=4096\nTOKEN_TTL=3600\n```\n")
        elif kind == 4:
            b.text('```js\nconst anthropic = new Anthropic({ apiKey: "')
            b.entity("ANTHROPIC_API_KEY", self.anthropic())
            b.text(
                '" });\nconst slack = new WebClient(process.env.SLACK_TOKEN);\n'
                "const password = process.env.DB_PASSWORD;\n```\n"
            )
        elif kind == 5:
            b.text("Why does this key not load?\n")
            b.entity("PRIVATE_KEY", self.pem())
            b.text("\n")
        elif kind == 6:
            b.text("curl -H 'Authorization: Bearer ")
            b.entity("JWT", self.jwt(f))
            b.text(f"' https://api.{f.domain_name()}/v1/items?limit=50\n")
        elif kind == 7:
            b.text("maps:\n  key: ")
            b.entity("GOOGLE_API_KEY", self.google())
            b.text("\nslack:\n  bot: ")
            b.entity("SLACK_TOKEN", self.slack())
            b.text(f"\n  channel: C0{self.rng.randint(1000000, 9999999)}\n")
        else:
            b.text("My proxy settings: HTTPS_PROXY=http://device:")
            b.entity("WARDEN_DEVICE_CREDENTIAL", self.device_credential())
            b.text(f"@proxy.{f.domain_name()}:8080\n")
        # plain code, near misses only
        b.text(
            f"def {f.word()}_{f.word()}(items, limit={self.rng.randint(2, 500)}):\n"
            f"    # {f.sentence()}\n"
            f'    token_type = "bearer"\n'
            f'    secret_name = os.environ["SECRET_NAME"]\n'
            f"    retries = {self.rng.randint(1, 9)}  # sha {f.sha1()[:12]}\n"
            f"    return [x for x in items if x.id != '{f.uuid4()}'][:limit]\n\n"
        )

    def log(self, b: _Builder, f: Faker, locale: str) -> None:
        for _ in range(self.rng.randint(3, 8)):
            ts = f.date_time_between("-30d").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            b.text(
                f"{ts} {self.rng.choice(['INFO', 'WARN', 'DEBUG'])} [worker-{self.rng.randint(1, 16)}] "
                f"{self.rng.choice(['GET', 'POST'])} /api/v{self.rng.randint(1, 3)}/{f.word()}/"
                f"{self.rng.randint(1, 99999)} {self.rng.choice([200, 201, 404, 500])} "
                f"{self.rng.randint(1, 2500)}ms req={f.uuid4()} "
            )
            r = self.rng.random()
            if r < 0.35:
                b.text("client=")
                b.entity("IP_ADDRESS", self.ip(f))
            if r < 0.2 or r > 0.9:
                b.text(" user=")
                b.entity("EMAIL_ADDRESS", self.email(f))
            b.text(f" pid={self.rng.randint(100, 65000)} port={self.rng.randint(1024, 65535)}\n")
        b.text("\n")

    def mail(self, b: _Builder, f: Faker, locale: str) -> None:
        b.text("From: ")
        b.entity("EMAIL_ADDRESS", self.email(f))
        b.text("\nTo: ")
        b.entity("EMAIL_ADDRESS", self.email(f))
        b.text(f"\nSubject: {f.sentence(nb_words=5)}\n\nHi {f.first_name()},\n\n")
        b.text(f.paragraph(nb_sentences=4) + " ")
        if self.rng.random() < 0.6:
            b.text("Call me on ")
            b.entity("PHONE_NUMBER", self.phone(f, locale))
            b.text(" any time. ")
        if self.rng.random() < 0.3:
            b.text("Refund account: ")
            b.entity("IBAN_CODE", self.iban(f))
            b.text(". ")
        b.text(f"\n\nBest,\n{f.name()}\n{f.company()} | {f.street_address()}\n\n")

    def prompt(self, target: int) -> Prompt:
        locale = self.rng.choice(LOCALES)
        f = self.fakers[locale]
        b = _Builder()
        blocks: list[Callable[[_Builder, Faker, str], None]] = [
            self.chat,
            self.code,
            self.log,
            self.mail,
        ]
        while b.size < target:
            self.rng.choice(blocks)(b, f, locale)
        return Prompt("".join(b.parts), b.spans, locale)


def corpus(n: int, size: int, seed: int = 7) -> list[Prompt]:
    """``n`` prompts of about ``size`` characters each (at least ``size``)."""
    gen = Generator(seed * 1000 + size)
    return [gen.prompt(size) for _ in range(n)]
