"""What stands where a credential would but is not one: templates, masked values, words
that name the secret instead of holding it, and code that reads it from elsewhere.

Every secret recognizer asks ``is_placeholder`` before it reports a value, so that
documentation, tutorials and redacted output (``sk-...``, ``xoxb-***``, ``YOUR_API_KEY``,
``<token>``, ``${TOKEN}``, ``****************ABCD``) are never flagged. The vocabulary
follows the allow-lists of gitleaks (``config/gitleaks.toml``: its global stop-words and
the curl rule's placeholder list) and detect-secrets' ``filters/heuristic.py``
(templated secrets, indirect references), read for understanding, not copied.
"""

from __future__ import annotations

import math
from collections import Counter

import regex

#: Templates and references: ``${X}``, ``$X``, ``$(cmd)``, ``{{ x }}``, ``<x>``, ``%(x)s``,
#: ``%X%``, ``#{x}``, ``[PASSWORD]``, ``@@x@@``, and code that reads the value
#: (``os.environ[...]``, ``process.env.X``, ``config.get(...)``).
_TEMPLATE = regex.compile(
    r"""
      .*\$\{.*\}.* | \$\(.*\) | \$[A-Za-z_]\w* | .*\{\{.*\}\}.* | <[^>]*> | \[[^\]]*\]
    | %\(?[A-Za-z_]+\)?s? | %[A-Za-z_]\w*% | \#\{.*\} | @@?[A-Za-z_]\w*@@?
    | .*[()\[\]{}].*
    | (?:os|process|self|this|config|settings|env|ENV|secrets|params|vars|var|args|
       props|properties|ctx|context|values|Values|System|Environment|cfg|conf|getenv)
      (?:\.[\w.]+)+
    """,
    regex.VERBOSE,
)

#: Masked or elided values: ``****``, ``xxxx``, ``sk-...``, ``xoxb-***``, ``••••``,
#: ``****************ABCD`` (``aws configure list``), ``<redacted>``.
_MASKED = regex.compile(
    r".*(?:\*{3}|\.{2}|…|•{2}|#{4}|_{4}|(?i:x{6,})|0{8,}).*|(?i:[x*#.\-_0•]+)|(?i:x{4,}.*)"
)

#: Words that name a secret instead of holding it. A value made only of these words and
#: separators is a placeholder (``YOUR_API_KEY``, ``your-token-here``, ``changeme``,
#: ``test``, ``None``); a value with any other word or a digit is not.
_WORDS = (
    "your|my|our|the|a|an|some|insert|enter|put|replace|paste|add|set|with|goes|go|here|"
    "this|that|example|examples|sample|dummy|fake|mock|test|testing|placeholder|redacted|"
    "hidden|masked|removed|secret|secrets|password|passwd|pass|pwd|pw|passphrase|api|key|"
    "keys|token|tokens|access|auth|authorization|bearer|basic|private|public|client|"
    "value|string|str|text|xxx+|changeme|changeit|change|me|it|todo|tbd|fixme|none|null|"
    "nil|true|false|yes|no|undefined|required|optional|empty|default|foo|bar|baz|qux|"
    "abc|demo|sk|pk|rk|id|user|username|name|login|admin|root|guest|app|service|account|"
    "db|database|new|old|real|actual|valid|invalid|generated|random|own|personal|"
    "org|organization|project|prod|production|dev|staging|live|sandbox|webhook|signing|"
    "encryption|master|session|refresh|bot|slack|github|gitlab|openai|anthropic|stripe|"
    "aws|azure|google|gcp|npm|pypi|docker|registry|credential|credentials|creds|config|"
    "env|environment|variable|var|<|>|\\{|\\}|\\$"
)
_WORDS_ONLY = regex.compile(rf"(?i)(?:(?:{_WORDS})[\s_\-.:/]*)+")

#: Eight letters in alphabet order (``klmnopqr``, ``fghijklm``): typed by a
#: person writing an example; a generated value has one with negligible probability.
_SEQUENCE = regex.compile(
    r"(?:abcdefgh|bcdefghi|cdefghij|defghijk|efghijkl|fghijklm|ghijklmn|hijklmno|ijklmnop|"
    r"jklmnopq|klmnopqr|lmnopqrs|mnopqrst|nopqrstu|opqrstuv|pqrstuvw|qrstuvwx|rstuvwxy|"
    r"stuvwxyz)"
)

#: Identifier-shaped values (``pwd_from_vault``, ``getPassword``, ``settings.DB_PASS``):
#: in code an unquoted value after ``=`` is a variable, not a secret.
_IDENTIFIER = regex.compile(r"[A-Za-z_][A-Za-z_\-]*(?:\.[A-Za-z_][A-Za-z_\-]*)*")


def is_placeholder(value: str) -> bool:
    """``value`` is a template, a masked value or a word naming a secret."""
    v = value.strip().strip("\"'`")
    if len(v) < 4:
        return True
    return bool(
        _MASKED.fullmatch(v)
        or _TEMPLATE.fullmatch(v)
        or _WORDS_ONLY.fullmatch(v)
        or len(set(v.lower())) <= 2
        or _SEQUENCE.search(v)
    )


def is_identifier(value: str) -> bool:
    """A name in code without digits: a variable or attribute, not a value."""
    return _IDENTIFIER.fullmatch(value) is not None


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (detect-secrets' high-entropy plugins use
    the same measure, with 4.5 for base64 and 3.0 for hex as their limits)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def looks_random(value: str, min_length: int = 12, min_entropy: float = 3.0) -> bool:
    """A value that looks generated rather than written: long enough, letters and digits
    mixed, and enough entropy; the test for values whose name alone is weak evidence
    (``*_KEY``, ``auth``) or that stand next to a secret word in prose."""
    if len(value) < min_length or is_placeholder(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and entropy(value) >= min_entropy
