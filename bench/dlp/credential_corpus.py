"""Builds the credential corpus (``bench/dlp/data/credentials.jsonl``) from the public rule
sets' own test cases, seeded. Run once by hand; the output is committed (nothing is
downloaded at run time)::

    .venv/bin/python bench/dlp/credential_corpus.py \\
        --gitleaks /path/to/gitleaks --detect-secrets /path/to/detect-secrets

Sources (read from local clones, cited per document in its ``source`` field):

- gitleaks (github.com/gitleaks/gitleaks, MIT): every rule in
  ``cmd/generate/config/rules/*.go`` carries true positives (``tps``) and false positives
  (``fps``). True positives written with ``utils.GenerateSampleSecrets(id, secret)`` are
  rebuilt here: the secret (a literal or ``secrets.NewSecret(<regex>)``, generated from
  its regex) placed in a few of the contexts that function uses (INI, JSON, XML, YAML, C#,
  Go, Java, Kotlin, PHP, Python, Makefile, logstash; listed in ``utils/generate.go``) and
  in contexts a prompt carries that gitleaks' list lacks (curl header, URL query, log
  line, Dockerfile, kube Secret, stack trace, ``.env`` line, prose). Literal true
  positives keep their text; the secret's span is found with gitleaks' own rule regex
  (``config/gitleaks.toml``), never with ours.
- detect-secrets (github.com/Yelp/detect-secrets, Apache-2.0): the ``(payload,
  should_flag)`` tables of ``tests/plugins/*_test.py``; positives are scored per
  document (their span is not given). Positives made of filler (``AKCxxxxxxxxxx``,
  ``AKIAZZZZZZZZZZZZZZZZ``, ``username:password``) test a plugin's shape with a
  placeholder; we never flag placeholders, so they are left out (counted in the output).
- Negatives generated here: code, logs, hex, UUIDs, SHAs, base64, certificates and public
  keys, placeholders; plus the rule sets' false positives that no gitleaks rule matches
  (a "false positive" of one rule is often another rule's secret).

Nothing real: literal true positives copied into the rule sets from public repositories
have their secret replaced by random characters of the same classes (the vendor prefix
kept), so every credential in the corpus is fake; JWTs keep the rule sets' published
header and claims (their JSON must stay valid) with a random signature, so none verifies;
PEM blocks keep their armour around a random body. Values that cannot be made fake so
are left out.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import string
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import regex

OUT = Path(__file__).resolve().parent / "data" / "credentials.jsonl"


@dataclass
class Doc:
    text: str
    kind: str  # a gitleaks rule id, a detect-secrets plugin, or "negative"
    context: str
    source: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    positive: bool = True
    #: the span is not known: scored per document
    whole: bool = False


# --- Go expressions of the rule files ------------------------------------------------------

_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|(?P<raw>`[^`]*`)|(?P<str>"(?:\\.|[^"\\])*")|(?P<id>[A-Za-z_][\w.]*)|(?P<p>\.\.\.|[(){}\[\],+:=])""",
    re.S,
)


def tokens(src: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            out.append(("?", src[pos]))
            pos += 1
            continue
        pos = m.end()
        if m.group("raw"):
            out.append(("s", m.group("raw")[1:-1]))
        elif m.group("str"):
            out.append(
                (
                    "s",
                    json.loads(m.group("str").replace("\\'", "'"))
                    if "\\x" not in m.group("str")
                    else m.group("str")[1:-1],
                )
            )
        elif m.group("id"):
            out.append(("id", m.group("id")))
        elif m.group("p"):
            out.append(("p", m.group("p")))
    return out


class Skip(Exception):
    pass


class GoExpr:
    """A tiny evaluator for the expressions rule files build test cases with."""

    def __init__(self, toks: list[tuple[str, str]], rng: random.Random) -> None:
        self.t = toks
        self.i = 0
        self.rng = rng

    def peek(self) -> tuple[str, str]:
        return self.t[self.i] if self.i < len(self.t) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Skip(f"expected {value}, got {tok}")
        self.i += 1
        return tok

    def expr(self) -> object:
        value = self.term()
        while self.peek() == ("p", "+"):
            self.take()
            right = self.term()
            if not isinstance(value, str) or not isinstance(right, str):
                raise Skip("+ on non-strings")
            value = value + right
        return value

    def term(self) -> object:
        kind, val = self.peek()
        if kind == "s":
            self.take()
            return val
        if kind == "id":
            self.take()
            if self.peek() != ("p", "("):
                raise Skip(f"variable {val}")
            self.take("(")
            args: list[object] = []
            while self.peek() != ("p", ")"):
                args.append(self.expr())
                if self.peek() == ("p", "..."):
                    self.take()
                if self.peek() == ("p", ","):
                    self.take()
            self.take(")")
            return self.call(val, args)
        raise Skip(f"term {kind} {val}")

    def call(self, name: str, args: list[object]) -> object:
        helpers = {
            "utils.Numeric": "[0-9]{%s}",
            "utils.Hex": "[a-f0-9]{%s}",
            "utils.AlphaNumeric": "[a-z0-9]{%s}",
            "utils.AlphaNumericExtendedShort": "[a-z0-9_-]{%s}",
            "utils.AlphaNumericExtended": "[a-z0-9=_\\-]{%s}",
            "utils.AlphaNumericExtendedLong": "[a-z0-9\\/=_\\+\\-]{%s}",
        }
        if name in helpers:
            return helpers[name] % args[0]
        if name == "utils.Hex8_4_4_4_12":
            return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        if name == "secrets.NewSecret":
            return generate(str(args[0]), self.rng)
        if name == "fmt.Sprintf":
            fmt = str(args[0])
            if re.search(r"%[^s%]", fmt):
                raise Skip("Sprintf verb")
            return fmt.replace("%%", "\0") % tuple(args[1:]) if False else _sprintf(fmt, args[1:])
        if name == "utils.GenerateSampleSecrets":
            return ("SAMPLES", str(args[0]), str(args[1]))
        if name == "utils.GenerateSampleSecret":
            return f'{args[0]}_api_token = "{args[1]}"'
        if name == "strings.Repeat":
            return str(args[0]) * int(str(args[1]))
        raise Skip(f"call {name}")


def _sprintf(fmt: str, args: list[object]) -> str:
    parts = fmt.split("%s")
    if len(parts) - 1 != len(args):
        raise Skip("Sprintf arity")
    out = parts[0]
    for arg, part in zip(args, parts[1:], strict=True):
        out += str(arg) + part
    return out


_CLASS = re.compile(r"\[((?:\\.|[^\]])+)\]|\\d|\\w|\\.|.")


def generate(rx: str, rng: random.Random) -> str:
    """A random string matching ``rx`` for the simple regexes rule files use: literals,
    character classes, ``\\d``/``\\w`` and ``{n}``/``{m,n}`` repeats."""
    out = []
    pos = 0
    while pos < len(rx):
        m = _CLASS.match(rx, pos)
        assert m is not None
        pos = m.end()
        atom = m.group(0)
        if atom in "()|?*+^$" and len(atom) == 1:
            raise Skip(f"regex {rx}")
        if m.group(1) is not None:
            chars = _expand(m.group(1))
        elif atom == "\\d":
            chars = string.digits
        elif atom == "\\w":
            chars = string.ascii_letters + string.digits + "_"
        elif atom.startswith("\\"):
            chars = atom[1]
        else:
            chars = atom
        q = re.match(r"\{(\d+)(,(\d*))?\}", rx[pos:])
        n = 1
        if q:
            lo = int(q.group(1))
            hi = int(q.group(3)) if q.group(3) else lo + 20 if q.group(2) else lo
            n = rng.randint(lo, hi)
            pos += q.end()
        out.append("".join(rng.choice(chars) for _ in range(n)))
    return "".join(out)


def _expand(cls: str) -> str:
    if cls.startswith("^"):
        raise Skip("negated class")
    chars = []
    i = 0
    cls = cls.replace("\\w", "A-Za-z0-9_").replace("\\d", "0-9")
    while i < len(cls):
        c = cls[i]
        if c == "\\" and i + 1 < len(cls):
            chars.append(cls[i + 1])
            i += 2
        elif i + 2 < len(cls) and cls[i + 1] == "-":
            chars.extend(chr(x) for x in range(ord(c), ord(cls[i + 2]) + 1))
            i += 3
        else:
            chars.append(c)
            i += 1
    return "".join(chars)


# --- contexts --------------------------------------------------------------------------------


def _camel(identifier: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", identifier.title()) or "Api"


#: gitleaks' sample contexts (``GenerateSampleSecrets``), written again here.
GITLEAKS_CONTEXTS = {
    "ini quoted": '{i}Token = "{s}"',
    "ini unquoted": "{i}Token={s}",
    "json": '{{\n    "{i}_token": "{s}"\n}}',
    "json escaped newline": '{{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}}',
    "xml element": "<{i}Token>\n    {s}\n</{i}Token>",
    "yaml unquoted": "{i}_token: {s}",
    "yaml quoted": "{i}_token: '{s}'",
    "csharp": 'string {i}Token = "{s}";',
    "go": 'var {i}Token string = "{s}"',
    "go short": "{i}Token := `{s}`",
    "java": 'String {i}Token = "{s}";',
    "kotlin": 'var {i}Token = "{s}"',
    "php": '${i}Token .= "{s}"',
    "python": "{i}Token = '{s}'",
    "java setProperty": 'System.setProperty("{I}_TOKEN", "{s}")',
    "logstash": '  "{i}Token" => "{s}"',
    "makefile": '{I}_TOKEN := "{s}"',
}
#: Contexts a prompt carries that gitleaks' list does not.
PROMPT_CONTEXTS = {
    "curl header": "curl -sS -H 'Authorization: Bearer {s}' https://api.example.com/v1/items",
    "url query": "GET https://api.example.com/v2/data?limit=10&{i}_token={s}&format=json",
    "log line": "2024-03-05T10:22:31.114Z ERROR [worker-3] auth failed: {i}_token={s} user=svc",
    "dockerfile": "FROM node:20\nENV {I}_TOKEN={s}\nRUN npm ci",
    "kube secret": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {i}\ntype: Opaque\nstringData:\n"
        "  {i}-token: {s}\n"
    ),
    "stack trace": (
        'Traceback (most recent call last):\n  File "client.py", line 41, in call\n'
        "    resp = session.get(url, headers={{'X-Api-Key': '{s}'}})\n"
        "requests.exceptions.HTTPError: 401 Client Error"
    ),
    "env line": "export {I}_TOKEN={s}",
    "prose": "Why does this fail? I set my {i} token to {s} and still get 401.",
}


def place(template: str, identifier: str, secret: str) -> tuple[str, tuple[int, int]]:
    i = identifier.lower().replace("-", "_")
    filled = template.replace("{i}", "\0i").replace("{I}", "\0I").replace("{s}", "\0s")
    filled = filled.replace("{{", "{").replace("}}", "}")
    filled = filled.replace(
        "\0i", i if "_" in template or "{i}-" in template else _camel(i)[0].lower() + _camel(i)[1:]
    )
    filled = filled.replace("\0I", i.upper())
    start = filled.index("\0s")
    return filled.replace("\0s", secret), (start, start + len(secret))


# --- gitleaks ----------------------------------------------------------------------------------


def gitleaks_rules(root: Path) -> dict[str, tuple[regex.Pattern[str], int]]:
    data = tomllib.loads((root / "config" / "gitleaks.toml").read_text())
    rules = {}
    for rule in data.get("rules", []):
        rx = rule.get("regex")
        if not rx:
            continue
        try:
            compiled = regex.compile(_go_to_python(rx))
        except regex.error:
            continue
        rules[rule["id"]] = (compiled, int(rule.get("secretGroup", 0)))
    return rules


def _go_to_python(rx: str) -> str:
    rx = rx.replace(r"\z", r"\Z")
    # Go allows (?i) mid-pattern (from there on); scope it to the rest of the pattern
    m = re.search(r"(?<!^)\(\?i\)", rx)
    if m:
        rx = rx[: m.start()] + "(?i:" + rx[m.end() :] + ")"
    return rx


def secret_span(compiled: regex.Pattern[str], group: int, text: str) -> tuple[int, int] | None:
    m = compiled.search(text)
    if m is None:
        return None
    if group and m.group(group) is not None:
        return m.span(group)
    for g in range(1, (m.re.groups or 0) + 1):
        if m.group(g):
            return m.span(g)
    return m.span()


def refake(value: str, rng: random.Random) -> str:
    """``value`` with its characters after the vendor prefix replaced by random ones of the
    same class (drawn from the classes' characters present in the value)."""
    if value.startswith("ey"):
        # a JWT: header and claims stay (their JSON must stay valid), the signature is
        # replaced, so that no token copied into the rule sets would verify
        head, dot, signature = value.rpartition(".")
        if not dot or head.count(".") != 1:
            return value
        alphabet = string.ascii_letters + string.digits + "-_"
        return head + "." + "".join(rng.choice(alphabet) if c.isalnum() else c for c in signature)
    if "-----BEGIN" in value:
        # a PEM block: keep its armour, replace the body with random base64 (no key
        # material of any kind is committed)
        head, _, rest = value.partition("-----\n")
        body, sep, tail = rest.rpartition("\n-----END")
        if not sep:
            body, tail, sep = rest, "", ""
        alphabet = string.ascii_letters + string.digits + "+/"
        fresh = "".join(c if c in "\n=" else rng.choice(alphabet) for c in body)
        return head + "-----\n" + fresh + sep + tail
    prefix = re.match(r"(?:[A-Za-z0-9]{1,12}?[_\-.~]){0,2}", value)
    keep = prefix.end() if prefix else 0
    if keep >= len(value) - 8:
        keep = 0
    pools = {
        "u": "".join(sorted({c for c in value if c.isupper()})) or string.ascii_uppercase,
        "l": "".join(sorted({c for c in value if c.islower()})) or string.ascii_lowercase,
        "d": "".join(sorted({c for c in value if c.isdigit()})) or string.digits,
    }
    out = list(value[:keep])
    for c in value[keep:]:
        if c.isupper():
            out.append(rng.choice(pools["u"]))
        elif c.islower():
            out.append(rng.choice(pools["l"]))
        elif c.isdigit():
            out.append(rng.choice(pools["d"]))
        else:
            out.append(c)
    return "".join(out)


_FUNC = re.compile(r"^func (\w+)\(\) \*config\.Rule \{\n(.*?)^\}", re.S | re.M)
_LIST = re.compile(r"\b(tps|fps)\s*(?::=|=)\s*", re.S)


def _statement_end(toks: list[tuple[str, str]], i: int) -> int:
    if toks[i : i + 2] == [("p", "["), ("p", "]")]:  # []string{…}
        i += 2
    depth = 0
    while i < len(toks):
        v = toks[i][1]
        if v in "([{":
            depth += 1
        elif v in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def gitleaks_docs(root: Path, rng: random.Random, per_sample: int) -> Iterator[Doc]:
    rules = gitleaks_rules(root)
    commit = _commit(root)
    for path in sorted((root / "cmd" / "generate" / "config" / "rules").glob("*.go")):
        src = path.read_text()
        for fm in _FUNC.finditer(src):
            body = fm.group(2)
            rid = re.search(r'RuleID:\s*"([^"]+)"', body)
            if rid is None:
                continue
            rule_id = rid.group(1)
            where = f"gitleaks@{commit[:12]}:{path.relative_to(root)}:{fm.group(1)}"
            for lm in _LIST.finditer(body):
                which = lm.group(1)
                toks = tokens(body[lm.end() :])
                end = _statement_end(toks, 0)
                stmt = toks[:end]
                for item in _items(stmt, rng):
                    yield from _docs_for(item, which, rule_id, rules, where, rng, per_sample)


def _items(stmt: list[tuple[str, str]], rng: random.Random) -> Iterator[object]:
    """The expressions of ``[]string{…}``, ``append(tps, …)`` or one call."""
    if not stmt:
        return
    if stmt[0] == ("p", "[") or (stmt[0][0] == "id" and stmt[0][1] == "append"):
        # skip to the first "{" or "(" and split its contents at top-level commas
        start = 2 if stmt[0] == ("p", "[") else 0
        open_i = next((i for i, t in enumerate(stmt) if i >= start and t[1] in "{("), None)
        if open_i is None:
            return
        inner = stmt[open_i + 1 : -1]
        if stmt[0][1] == "append":
            inner = inner[2:]  # "tps", ","
        parts: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for t in inner:
            if t[1] in "([{":
                depth += 1
            elif t[1] in ")]}":
                depth -= 1
            if t == ("p", ",") and depth == 0:
                parts.append([])
            else:
                parts[-1].append(t)
        for part in parts:
            if part:
                try:
                    yield GoExpr(part, rng).expr()
                except (Skip, StopIteration, ValueError, TypeError, IndexError):
                    continue
    else:
        try:
            yield GoExpr(stmt, rng).expr()
        except (Skip, ValueError, TypeError, IndexError):
            return


def _docs_for(
    item: object,
    which: str,
    rule_id: str,
    rules: dict[str, tuple[regex.Pattern[str], int]],
    where: str,
    rng: random.Random,
    per_sample: int,
) -> Iterator[Doc]:
    if isinstance(item, tuple) and item and item[0] == "SAMPLES":
        _, identifier, secret = item
        if which != "tps":
            return
        names = rng.sample(sorted(GITLEAKS_CONTEXTS), per_sample)
        for name in names:
            text, span = place(GITLEAKS_CONTEXTS[name], identifier, secret)
            yield Doc(text, rule_id, f"gitleaks: {name}", where, [span])
        for name in rng.sample(sorted(PROMPT_CONTEXTS), per_sample):
            text, span = place(PROMPT_CONTEXTS[name], identifier, secret)
            yield Doc(text, rule_id, name, where, [span])
        return
    if not isinstance(item, str) or not item.strip():
        return
    if which == "fps":
        yield Doc(item, "negative", f"gitleaks false positive ({rule_id})", where, [], False)
        return
    rule = rules.get(rule_id)
    if rule is None:
        return
    found = secret_span(rule[0], rule[1], item)
    if found is None:
        return
    span = found
    secret = item[span[0] : span[1]]
    # the fake must still be what gitleaks' rule finds there; a value that cannot be
    # made fake that way is left out, never kept as it was
    for _ in range(8):
        fake = refake(secret, rng)
        text = item[: span[0]] + fake + item[span[1] :]
        if secret_span(rule[0], rule[1], text) == (span[0], span[0] + len(fake)):
            break
    else:
        return
    if fake == secret and "." not in secret:
        return
    gold = (span[0], span[0] + len(fake))
    yield Doc(text, rule_id, "gitleaks: literal", where, [gold])


# --- detect-secrets ----------------------------------------------------------------------------


_FILLER = re.compile(r"x{6,}|X{6,}|Z{6,}|username:password")


def detect_secrets_docs(root: Path) -> Iterator[Doc]:
    commit = _commit(root)
    for path in sorted((root / "tests" / "plugins").glob("*_test.py")):
        plugin = path.stem.removesuffix("_test")
        if plugin in ("base", "high_entropy_strings", "ip_public", "keyword"):
            continue  # not payload tables of credentials (keyword: code-shaped, below)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            if not (isinstance(node.func, ast.Attribute) and node.func.attr == "parametrize"):
                continue
            if len(node.args) < 2 or not isinstance(node.args[1], ast.List | ast.Tuple):
                continue
            for elt in node.args[1].elts:
                if not isinstance(elt, ast.Tuple) or len(elt.elts) < 2:
                    continue
                try:
                    payload = ast.literal_eval(elt.elts[0])
                    flag = ast.literal_eval(elt.elts[1])
                except ValueError:
                    continue
                if not isinstance(payload, str) or not isinstance(flag, bool):
                    continue
                where = f"detect-secrets@{commit[:12]}:{path.relative_to(root)}"
                if flag and _FILLER.search(payload):
                    # the plugins' shape tests with filler values (AKCxxxxxxxxxx,
                    # AKIAZZZZ…): placeholders, which we never flag by design
                    continue
                if flag:
                    yield Doc(
                        payload,
                        f"detect-secrets {plugin}",
                        "detect-secrets payload",
                        where,
                        [],
                        True,
                        True,
                    )
                else:
                    yield Doc(
                        payload, "negative", f"detect-secrets false ({plugin})", where, [], False
                    )


# --- negatives ---------------------------------------------------------------------------------


def negatives(rng: random.Random, n: int) -> Iterator[Doc]:
    def hexs(k: int) -> str:
        return "".join(rng.choice("0123456789abcdef") for _ in range(k))

    def b64(k: int) -> str:
        import base64

        return base64.b64encode(rng.randbytes(k)).decode()

    def uuid() -> str:
        h = hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    makers = {
        "code": lambda: (
            f"def fetch_{rng.choice(['user', 'order', 'token_count'])}(client, limit={rng.randint(1, 500)}):\n"
            f"    token = os.environ['API_TOKEN']\n    password = getpass.getpass()\n"
            f"    headers = {{'Authorization': f'Bearer {{token}}'}}\n"
            f"    return client.get('/v1/items', headers=headers, params={{'limit': limit}})\n"
        ),
        "log": lambda: (
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T0{rng.randint(0, 9)}:1{rng.randint(0, 9)}:00Z INFO "
            f"req={uuid()} trace={hexs(32)} span={hexs(16)} GET /api/v1/orders/{rng.randint(1, 99999)} 200 "
            f"{rng.randint(1, 900)}ms token_count={rng.randint(1, 4096)} session=active"
        ),
        "hex": lambda: f"checksum: {hexs(64)}\nmd5 {hexs(32)}",
        "uuid": lambda: f"id: {uuid()}\nparent_id: {uuid()}",
        "git sha": lambda: (
            f"commit {hexs(40)}\nMerge: {hexs(7)} {hexs(7)}\n    fix: bump deps ({hexs(12)})"
        ),
        "base64": lambda: f"data:image/png;base64,{b64(rng.randint(60, 200))}",
        "certificate": lambda: (
            "-----BEGIN CERTIFICATE-----\n"
            + "\n".join(b64(48) for _ in range(rng.randint(4, 10)))
            + "\n-----END CERTIFICATE-----"
        ),
        "public key": lambda: f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{b64(24)} dev@laptop",
        "placeholder": lambda: rng.choice(
            [
                "OPENAI_API_KEY=sk-...",
                "export SLACK_TOKEN=xoxb-***",
                "api_key: YOUR_API_KEY",
                "curl -H 'Authorization: Bearer <token>' https://api.example.com",
                "token: ${TOKEN}",
                "password: {{ .Values.password }}",
                "DB_PASSWORD=changeme",
                "aws_secret_access_key     ****************ABCD shared-credentials-file",
                "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "Authorization: Bearer $ACCESS_TOKEN",
                "client_secret = os.getenv('CLIENT_SECRET')",
                "token = config['token']",
            ]
        ),
        "kube manifest": lambda: (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"
            "  template:\n    spec:\n      containers:\n      - name: web\n        image: "
            f"registry.example.com/web@sha256:{hexs(64)}\n        env:\n        - name: API_TOKEN\n"
            "          valueFrom:\n            secretKeyRef: {name: api, key: token}\n"
        ),
        "dockerfile": lambda: (
            f"FROM python:3.13-slim@sha256:{hexs(64)}\nARG VERSION=1.{rng.randint(0, 9)}.{rng.randint(0, 9)}\n"
            "ENV PYTHONUNBUFFERED=1 PORT=8080\nRUN pip install --no-cache-dir -r requirements.txt\n"
        ),
        "prose": lambda: rng.choice(
            [
                "Rotate the API key every 90 days and never paste the token into chat.",
                "The password policy needs 12 characters; the secret manager stores them.",
                "Use a bearer token from your identity provider; see the auth docs.",
                "Our key results for Q3 are revenue growth and lower churn.",
            ]
        ),
    }
    names = sorted(makers)
    for k in range(n):
        name = names[k % len(names)]
        yield Doc(makers[name](), "negative", f"negative: {name}", "generated", [], False)


def _commit(root: Path) -> str:
    if (root / "COMMIT").is_file():  # an exported tree: the commit noted beside it
        return (root / "COMMIT").read_text().strip()
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gitleaks", type=Path, required=True, help="a clone of gitleaks")
    ap.add_argument("--detect-secrets", type=Path, required=True, help="a clone of detect-secrets")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--per-sample", type=int, default=2, help="contexts per sample secret and list")
    ap.add_argument("--negatives", type=int, default=600)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = list(gitleaks_docs(args.gitleaks, rng, args.per_sample))
    docs += list(detect_secrets_docs(args.detect_secrets))
    # a "false positive" of one rule that another gitleaks rule finds is ambiguous: dropped
    rules = gitleaks_rules(args.gitleaks)
    kept, dropped = [], 0
    for d in docs:
        if not d.positive and any(rx.search(d.text) for rx, _ in rules.values()):
            dropped += 1
            continue
        kept.append(d)
    kept += list(negatives(rng, args.negatives))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for d in kept:
            f.write(json.dumps(asdict(d), ensure_ascii=False) + "\n")
    pos = sum(d.positive for d in kept)
    print(
        f"{len(kept)} documents ({pos} positive, {len(kept) - pos} negative); {dropped} ambiguous false positives dropped -> {args.out}"
    )


if __name__ == "__main__":
    main()
