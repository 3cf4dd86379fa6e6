"""Credentials known by their context, not their format: HTTP authorization headers,
``curl -u`` and password flags, passwords in connection strings, Azure storage and SAS
keys, and the values of secret-named settings anywhere in a line (``.env``, shell,
Dockerfile ``ENV``/``ARG``, YAML, JSON, INI, code, URL queries, log lines, kube and docker
configs, prose).

Where each looks comes from the public rule sets, read for the contexts (not copied):
gitleaks (``cmd/generate/config/rules/generic.go``, ``curl.go``, ``azure.go``,
``kubernetes.go`` and the sample contexts of ``cmd/generate/config/utils/generate.go``)
and Yelp detect-secrets (``plugins/keyword.py``'s secret names, ``basic_auth.py``,
``azure_storage_key.py``, ``npm.py``).

Each recognizer matches ``NAME <operator> VALUE`` shapes with a named group ``v`` for the
value and then judges the pair in Python: how strongly the name says "secret"
(``_strength``) and whether the value is one (``placeholders.py``). A name that ends in
a password, secret or token word is strong: any value that is not a placeholder counts
(unquoted values in code must not be a bare identifier: ``password = pwd_from_vault`` is a
variable). A weak name (``*_KEY``, ``auth``, ``sig``) needs a value that looks generated.

They run on the pre-scan's windows of the whole text (``analyze_windows``), so that
``^`` and look-behinds see the real text before a window.

(Over 400 lines because of the patterns' shapes, one per context; the logic is ~100.)

Over 400 lines: mostly data: one recognizer class per credential context with its patterns
and context words.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, cast

import regex
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .base import SecretRecognizer, find_all, lower
from .placeholders import is_identifier, is_placeholder, looks_random

Window = tuple[int, int]
#: Results of the pre-scan path carry no explanation (as in ``engine._run_patterns``).
_NO_EXPLANATION = cast(AnalysisExplanation, None)

#: Strong names: the name's last word says the value is a secret. Matched against the
#: whole name in lower case (``smtp_pass``, ``ldap_bind_pw``, ``_authtoken``,
#: ``clientsecret``, ``client-key-data``). After gitleaks' generic rule and
#: detect-secrets' keyword list.
_STRONG_NAME = regex.compile(
    r"""
    .*(?:password|passwd|passphrase|passwort|contrase(?:ñ|n)a|secret|token|credentials?|creds
      |api[_\-.]?key|access[_\-.]?key|secret[_\-.]?key|priv(?:ate)?[_\-.]?key
      |(?:auth|signing|encryption|master|client|account|service|db|database|app|shared[_\-.]?access)
       [_\-.]?key
      |key[_\-.]?data|key[_\-.]?pass|sas[_\-.]?token|bearer)
    | (?:.*[_\-.])?(?:pass|pw|pwd|pass_?word)
    """,
    regex.VERBOSE,
)
#: Names that end in a secret word but hold public or structural values.
_NOT_SECRET_NAME = regex.compile(
    r".*(?:public[_\-.]?key|pub[_\-.]?key|key[_\-.]?id|token[_\-.]?(?:type|url|uri|endpoint|"
    r"file|path|name|length|count|limit)|secret[_\-.]?(?:name|ref|arn|id|path)|passport"
    r"|bypass|compass|max[_\-.]?tokens?|num[_\-.]?tokens?|tokens?[_\-.]?count|keyboard)"
)
#: Weak names: a key of some kind; the value has to look generated.
_WEAK_NAME = regex.compile(r".*(?:key|auth|login)")


def _strength(name: str) -> int:
    """2: the name says secret; 1: it may hold one; 0: it does not."""
    n = name.lower().strip("\"'`$@")
    if _NOT_SECRET_NAME.fullmatch(n):
        return 0
    if _STRONG_NAME.fullmatch(n):
        return 2
    if name.endswith(("Pass", "Pw", "Pwd", "PW", "PWD")):  # dbPass, ldapBindPw
        return 2
    return 1 if _WEAK_NAME.fullmatch(n) else 0


class ContextRecognizer(SecretRecognizer):
    """A secret recognizer whose patterns capture the value in a group ``v`` and whose
    matches are judged by ``accept``. ``analyze_windows`` runs the patterns on windows
    of the whole text (the engine calls it instead of slicing)."""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        return self.analyze_windows(text, [(0, len(text))])

    def analyze_windows(self, text: str, windows: Sequence[Window]) -> list[RecognizerResult]:
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: cast(Any, self).name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        spans: dict[tuple[int, int], float] = {}
        for kind, score, m in self._matches(text, windows):
            for start, end in self._values(kind, m, text):
                spans[start, end] = max(score, spans.get((start, end), 0.0))
        results = [
            RecognizerResult(self.ENTITY, start, end, score, _NO_EXPLANATION, dict(metadata))
            for (start, end), score in spans.items()
        ]
        return list(EntityRecognizer.remove_duplicates(results))

    def _matches(
        self, text: str, windows: Sequence[Window]
    ) -> Iterator[tuple[str, float, regex.Match[str]]]:
        """Every pattern's matches in the windows, left to right; after a rejected match
        the search goes on from its value (``failed: token=…`` first reads as the name
        ``failed``)."""
        for pattern, compiled in self._compiled():
            for lo, hi in windows:
                pos = lo
                while pos < hi:
                    m = compiled.search(text, pos, hi)
                    if m is None:
                        break
                    yield pattern.name, pattern.score, m
                    pos = m.start("v") if m.start("v") > m.start() else m.end()

    def _compiled(self) -> list[tuple[Pattern, regex.Pattern[str]]]:
        cached: list[tuple[Pattern, regex.Pattern[str]]] | None = getattr(self, "_cache", None)
        if cached is None:
            patterns: list[Pattern] = cast(Any, self).patterns
            cached = [(p, regex.compile(p.regex, regex.MULTILINE)) for p in patterns]
            self._cache = cached
        return cached

    def _values(self, kind: str, m: regex.Match[str], text: str) -> Iterator[tuple[int, int]]:
        if m.start("v") == m.end("v"):
            return
        start, end = m.span("v")
        value = text[start:end]
        if is_placeholder(value) or text[end : end + 2] in ("..", "[R", "<r"):
            return  # "<SUMO KEY>", "ops_eyJ..[Redacted]"
        # closing brackets and a sentence's full stop belong to the text, not the value
        trimmed = value.rstrip(")]}>,.")
        end -= len(value) - len(trimmed)
        if end > start and self.accept(kind, m, trimmed, text):
            yield start, end

    def accept(self, kind: str, m: regex.Match[str], value: str, text: str) -> bool:
        """Is ``value`` (matched by the pattern named ``kind``) a credential?"""
        return not is_placeholder(value)


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-$@+")


class AnchoredContextRecognizer(ContextRecognizer):
    """A context recognizer whose matches start at (or just before) the name that holds
    its trigger word: instead of trying every pattern at every position of a window, it
    tries them only where a match can start around each trigger (the name's first
    character, the one before it, the previous word, the line's start). Matches reach
    at most ``REACH_AFTER`` past the trigger, in the full text and in a window alike, so
    both paths find the same. ``STARTS`` narrows where each pattern is tried: ``name``
    (the name's first character), ``before`` (the character before it: a quote, ``?``,
    ``<``), ``word`` (the trigger itself), ``previous`` (the word before: "api key"),
    ``line`` (the line's start)."""

    STARTS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def _matches(
        self, text: str, windows: Sequence[Window]
    ) -> Iterator[tuple[str, float, regex.Match[str]]]:
        lowered = lower(text) if self.TRIGGER_LOWER else text
        compiled = self._compiled()
        tried: set[tuple[str, int]] = set()
        n = len(text)
        for lo, hi in windows:
            for t_start, t_end in find_all(lowered, self.TRIGGER_LITERALS, lo, hi):
                b = t_start
                while b > 0 and text[b - 1] in _NAME_CHARS:
                    b -= 1
                prev = b - 1
                while prev > 0 and text[prev - 1] in _NAME_CHARS:
                    prev -= 1
                name = b
                while name < t_start and text[name] == "-":
                    name += 1  # --password=…: the name follows a CLI flag's dashes
                where = {
                    "name": name,
                    "before": max(0, b - 1),
                    "word": t_start,
                    "line": text.rfind("\n", 0, b) + 1,
                    "previous": prev if b >= 2 and text[b - 1] in " _-" else b,
                }
                end = min(n, t_end + self.REACH_AFTER)
                e = t_end
                while e < n and text[e] in _NAME_CHARS:
                    e += 1
                while e < n and text[e] in "\"'`] \t":
                    e += 1
                for pattern, rx in compiled:
                    if not self.worth_trying(pattern.name, text, b, e, where["line"]):
                        continue
                    for tag in self.STARTS.get(pattern.name, tuple(where)):
                        start = where[tag]
                        if (pattern.name, start) in tried:
                            continue
                        tried.add((pattern.name, start))
                        m = rx.match(text, start, end)
                        if m is not None:
                            yield pattern.name, pattern.score, m

    def worth_trying(self, kind: str, text: str, name: int, after: int, line: int) -> bool:
        """A cheap look at the text around a trigger before a pattern is tried: ``name``
        is where the name starts, ``after`` the first character after it (past closing
        quotes and blanks), ``line`` the line's start."""
        return True


def _at_line_start(text: str, pos: int) -> bool:
    """Only whitespace, ``export``, ``- `` or ``ENV``/``ARG`` between the line's start and
    ``pos``: a ``.env``/YAML/Dockerfile line, not code."""
    line_start = text.rfind("\n", 0, pos) + 1
    head = text[line_start:pos].strip()
    return head in ("", "-", "export", "ENV", "ARG", "set", "setx", "$env:")


class ConnectionStringPasswordRecognizer(ContextRecognizer):
    """The password of ``scheme://user:password@host`` (database URLs, brokers, proxies,
    ``mongodb+srv://``); the user may be empty (``redis://:password@host``). ADO.NET's
    ``Password=…;`` is a secret-named setting (``EnvSecretRecognizer``)."""

    ENTITY = "PASSWORD"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "password in a URL's user info",
            r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/@\"'<>]{0,128}:"
            r"(?P<v>[^\s/@\"'<>]{1,256})@(?=[^\s@/\"'])",
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["password", "connection", "url", "dsn"]
    TRIGGER = r"://"


class AzureKeyRecognizer(ContextRecognizer):
    """Azure storage account keys and shared access keys in connection strings
    (``AccountKey=…;``, ``SharedAccessKey=…``), SAS signatures (``sig=…`` in a SAS URL or
    ``SharedAccessSignature=…``), and Entra ID (Azure AD) client secrets (``…8Q~…``)."""

    ENTITY = "AZURE_KEY"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Azure account or shared access key",
            r"(?i)(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey|PrimaryKey|SecondaryKey)"
            r"[ \t]*[=:][ \t]*[\"']?(?P<v>[A-Za-z0-9+/]{30,100}={0,2})(?![A-Za-z0-9+/=])",
            0.9,
        ),
        Pattern(
            "Azure SAS signature",
            r"(?i)(?:[?&;]|SharedAccessSignature=|\bsig=)(?:[^\s\"'<>]{0,400}?[&;?])?"
            r"sig=(?P<v>[A-Za-z0-9%+/]{20,200}(?:=|%3D){0,2})(?![A-Za-z0-9%+/=])",
            0.9,
        ),
        Pattern(
            "Azure AD client secret",
            r"(?<![A-Za-z0-9_~.\-])(?P<v>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})"
            r"(?![A-Za-z0-9_~.\-])",
            0.9,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["azure", "storage", "key"]
    TRIGGER = r"accountkey|sharedaccesskey|primarykey|secondarykey|sig=|q~"
    TRIGGER_LOWER = True
    REACH_BEFORE = 420
    REACH_AFTER = 210

    def accept(self, kind: str, m: regex.Match[str], value: str, text: str) -> bool:
        return looks_random(value, min_length=20, min_entropy=3.0)


#: Authorization schemes whose parameter is a credential (RFC 9110 and the common
#: vendor ones: GitHub's ``token``, Discord's ``Bot``, Okta's ``SSWS``).
_SCHEMES = (
    r"(?:Bearer|Basic|Token|Bot|SSWS|ApiKey|Api-Key|Key|OAuth|Digest|AWS4-HMAC-SHA256|Splunk"
    r"|GenieKey|Zoho-oauthtoken|DeepL-Auth-Key)"
)


class HttpCredentialRecognizer(AnchoredContextRecognizer):
    """Credentials in HTTP requests as people paste them: ``Authorization`` and
    ``Proxy-Authorization`` headers with any scheme (curl ``-H``, raw requests, logs,
    JSON header maps), API-key headers (``X-Api-Key``, ``api-key``, ``X-Auth-Token``,
    ``Private-Token``, ``Ocp-Apim-Subscription-Key`` …), ``curl -u user:password``,
    password flags of commands (``--password=…``, ``docker login -p …``), ``auth=(user,
    password)`` in code, and docker's ``"auth": "<base64 user:password>"``."""

    ENTITY = "HTTP_CREDENTIAL"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Authorization header",
            rf"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?[ \t]*{_SCHEMES}[ \t]+"
            r"(?P<v>[A-Za-z0-9._~+/=:\-]{6,2000})",
            0.85,
        ),
        Pattern(
            "Authorization header without a scheme",
            r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*:[ \t]*[\"']?"
            r"(?P<v>[A-Za-z0-9._~+/=\-]{16,2000})",
            0.8,
        ),
        Pattern(
            "bearer token in prose or logs",
            r"(?i)(?<![A-Za-z0-9])bearer[ \t]+(?P<v>[A-Za-z0-9._~+/=\-]{16,2000})",
            0.8,
        ),
        Pattern(
            "API key header",
            r"(?i)(?<![A-Za-z0-9_\-])(?:x-)?(?:api-?key|apikey|auth-?token|access-?token|"
            r"private-?token|goog-api-key|functions-key|subscription-key|x-token|secret|"
            r"ocp-apim-subscription-key|x-vault-token|x-shopify-access-token|x-figma-token|"
            r"x-amz-security-token|cookie)[\"']?[ \t]*:[ \t]*[\"']?(?P<v>[^\s\"',;]{8,2000})",
            0.85,
        ),
        Pattern(
            "curl -u / --user",
            r"(?<![A-Za-z0-9\-])(?:-u|--user)(?:=|[ \t]{1,5})[\"']?[^\s:\"']{0,128}[\"']?:"
            r"(?P<q>[\"']?)(?P<v>[^\s\"']{3,256})(?P=q)[\"']?(?=\s|$)",
            0.85,
        ),
        Pattern(
            "auth tuple in code (requests, httpx)",
            r"(?<![A-Za-z0-9_])auth[ \t]*=[ \t]*[\(\[][ \t]*[\"'][^\"'\r\n]{0,128}[\"']"
            r"[ \t]*,[ \t]*"
            r"(?P<q>[\"'])(?P<v>[^\"'\r\n]{3,256})(?P=q)",
            0.85,
        ),
        Pattern(
            "password flag of a command",
            r"(?<![A-Za-z0-9_\-])(?:--password|--passwd|--pass|--token|--secret|--api-key|"
            r"--client-secret)(?:=|[ \t]+)(?P<q>[\"']?)(?P<v>[^\s\"']{3,256})(?P=q)(?=\s|$)",
            0.85,
        ),
        Pattern(
            "login -p",
            r"(?<![A-Za-z0-9_\-])login\b[^\r\n]{0,200}?[ \t]-p[ \t]+(?P<q>[\"']?)"
            r"(?P<v>[^\s\"']{3,256})(?P=q)(?=\s|$)",
            0.85,
        ),
        Pattern(
            "docker config auth",
            r"\"(?:auth|identitytoken|registrytoken)\"[ \t]*:[ \t]*\""
            r"(?P<v>[A-Za-z0-9+/=_\-.]{12,2000})\"",
            0.85,
        ),
    ]
    STARTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "Authorization header": ("name",),
        "Authorization header without a scheme": ("name",),
        "bearer token in prose or logs": ("word",),
        "API key header": ("name",),
        "curl -u / --user": ("word",),
        "docker config auth": ("word", "before"),
        "auth tuple in code (requests, httpx)": ("word",),
        "password flag of a command": ("word",),
        "login -p": ("word",),
    }
    CONTEXT: ClassVar[list[str]] = ["authorization", "bearer", "header", "curl"]
    TRIGGER = None
    TRIGGER_LITERALS = (
        "authorization", "bearer", "api-key", "apikey", "-token", "_token", "token:",
        'token":', "-key:", '-key":', "secret:", 'secret":', "cookie", "-u ", "-u\t", "-u=",
        "--user", '"auth"', "identitytoken", "registrytoken", "auth=", "auth =", "--pass",
        "--token", "--secret", "--api-key", "--client-secret", "login",
    )  # fmt: skip
    TRIGGER_LOWER = True
    REACH_BEFORE = 40
    REACH_AFTER = 2040

    def accept(self, kind: str, m: regex.Match[str], value: str, text: str) -> bool:
        if is_placeholder(value):
            return False
        if kind in ("curl -u / --user", "auth tuple in code (requests, httpx)", "login -p"):
            return len(value) >= 3  # any password but a placeholder
        if kind == "password flag of a command":
            return len(value) >= 4 and not value.startswith(("-", "$"))
        if kind == "Authorization header" and " basic" in m.group(0).lower():
            return len(value) >= 8  # base64 of user:password
        if value.isdigit():  # numeric tokens exist (Discord client secrets)
            return len(value) >= 24
        return looks_random(value, min_length=12, min_entropy=2.5)


#: A secret-ish name: word characters, dots and dashes, maybe quoted.
_NAME = r"(?P<name>[A-Za-z_$@][A-Za-z0-9_.\-]{0,80})"
_OP = r"(?P<op>:::=|::=|:=|\?=|\.=|\?\?=|=>|\|\||=|:)"
#: Unquoted values: up to whitespace, a quote, or a separator of the surrounding format.
_BARE = r"(?P<v>[^\s\"'`,;&|\\]{1,300})"
_QUOTED = r"(?P<q>[\"'`])(?P<v>[^\"'`\r\n]{1,300})(?P=q)"


class EnvSecretRecognizer(AnchoredContextRecognizer):
    """Values of secret-named settings anywhere in a line: ``.env`` and shell
    (``DB_PASSWORD=…``, ``export GITHUB_TOKEN=…``, ``docker run -e SMTP_PASS=…``),
    Dockerfile (``ENV API_TOKEN=…``, ``ENV API_TOKEN …``, ``ARG``), YAML and kube configs
    (``client_secret: …``, ``token: …``, ``client-key-data: …``), JSON and code with quotes
    (``"api_key": "…"``, ``password = "…"``, ``apiToken := `…```), INI and ``aws
    configure`` files (``aws_secret_access_key = …``), npm's ``_authToken=…``, URL queries
    (``?api_key=…``, ``&access_token=…``), log lines (``… token=… user=…``), XML elements,
    and a generated-looking value right after a secret word in prose ("my API key is …")."""

    ENTITY = "ENV_SECRET"
    STARTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "quoted value of a secret-named key": ("name",),
        'quoted key and value pair (setProperty("KEY", "value"))': ("before",),
        "unquoted value of a secret-named key": ("name",),
        "Dockerfile ENV/ARG with a space": ("line",),
        "URL query parameter": ("before",),
        "XML element": ("before",),
        "generated-looking value after a secret word": ("word", "previous", "name"),
        "password after a password word in prose": ("word",),
    }
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "quoted value of a secret-named key",
            rf"(?<![A-Za-z0-9_.]|[A-Za-z0-9_.]-){_NAME}[\"'`\]]?"
            # a type after the name: `var token string =`, `val token: String =`
            r"(?:[ \t]*:[ \t]*[A-Za-z][\w<>\[\]?]{0,20}|[ \t]+(?:string|\[\]byte))?"
            rf"[ \t]*{_OP}[ \t]*@?{_QUOTED}",
            0.8,
        ),
        Pattern(
            'quoted key and value pair (setProperty("KEY", "value"))',
            rf"[\"']{_NAME}[\"'][ \t]*,[ \t]*{_QUOTED}",
            0.8,
        ),
        Pattern(
            "unquoted value of a secret-named key",
            rf"(?<![A-Za-z0-9_.]|[A-Za-z0-9_.]-){_NAME}(?P<sp>[ \t]*){_OP}(?P<sp2>[ \t]*)"
            r"(?![\"'`@])"
            rf"{_BARE}",
            0.8,
        ),
        Pattern(
            "Dockerfile ENV/ARG with a space",
            rf"(?m)^[ \t]*(?:ENV|ARG)[ \t]+{_NAME}[ \t]+(?![\"'=]){_BARE}",
            0.8,
        ),
        Pattern(
            "URL query parameter",
            r"[?&;](?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,60})=(?P<v>[^&;#\s\"'<>]{4,300})",
            0.8,
        ),
        Pattern(
            "XML element",
            r"<(?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,60})>\s*(?P<v>[^<>\s]{4,300})\s*</(?P=name)>",
            0.8,
        ),
        Pattern(
            "password after a password word in prose",
            r"(?i)(?<![A-Za-z0-9_])(?P<name>password|passwd|passphrase|pwd|passwort|contrase(?:ñ|n)a)"
            r"(?:[ \t]*:|(?:[ \t]+(?:is|was|ist|es|est|->)){1,2})[ \t]+[\"'`]?"
            r"(?P<v>[^\s\"'`]{6,128})",
            0.8,
        ),
        Pattern(
            "generated-looking value after a secret word",
            r"(?i)(?<![A-Za-z0-9_])(?P<name>password|passwd|passphrase|secret|token|"
            r"api[ _\-]?key|access[ _\-]?key|secret[ _\-]?key|private[ _\-]?key|credentials?)"
            r"(?:[ \t]+(?:is|was|are|of|for|to|->|=>|-)){0,3}(?:[ \t]*[:=][ \t]*|[ \t]+)[\"'`]?"
            r"(?P<v>[A-Za-z0-9][A-Za-z0-9+/_\-.=~!@#$%^*]{15,299})",
            0.8,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["password", "secret", "token", "env"]
    TRIGGER = None
    TRIGGER_LITERALS = (
        "pass", "pw", "secret", "token", "key", "cred", "auth", "bearer", "contrase", "login"
    )  # fmt: skip
    TRIGGER_LOWER = True
    REACH_BEFORE = 8
    REACH_AFTER = 420

    def worth_trying(self, kind: str, text: str, name: int, after: int, line: int) -> bool:
        c = text[after : after + 1]
        before = text[name - 1 : name] if name > 0 else ""
        if kind.startswith(("quoted value", "unquoted value")):
            return c in (":", "=", "?", ".", "|") or text.startswith(("string", "[]byte"), after)
        if kind.startswith("quoted key and value pair"):
            return c == "," and before in ('"', "'")
        if kind == "URL query parameter":
            return c == "=" and before in ("?", "&", ";")
        if kind == "XML element":
            return c == ">" and before == "<"
        if kind == "Dockerfile ENV/ARG with a space":
            return text[line:name].strip() in ("ENV", "ARG")
        return True

    def accept(self, kind: str, m: regex.Match[str], value: str, text: str) -> bool:
        if is_placeholder(value):
            return False
        if kind == "generated-looking value after a secret word":
            return looks_random(value, min_length=16, min_entropy=3.2)
        if kind == "password after a password word in prose":
            # a word is a judgement ("wrong", "correct"), a password has a digit or symbol
            value = value.rstrip(".,;:!?")
            return (
                len(value) >= 6 and any(not c.isalpha() for c in value) and not is_identifier(value)
            )
        strength = _strength(m.group("name"))
        if strength == 0:
            return False
        if strength == 1:  # UUID-shaped keys are common (Heroku, HubSpot, Snyk): 2.5
            return looks_random(value, min_length=16, min_entropy=2.5)
        groups = m.groupdict()
        if groups.get("q") == "`" and " " in value:
            return False  # shell command substitution: `vault read …`
        if groups.get("q") is not None:  # quoted: any value but a placeholder
            return True
        # unquoted: a bare identifier is a variable in code, except on a .env/YAML line
        line_assignment = groups.get("op") in ("=", ":") and not groups.get("sp")
        if line_assignment and _at_line_start(text, m.start("name")):
            return True
        return not is_identifier(value)
