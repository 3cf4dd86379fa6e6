"""SCIM filters (RFC 7644 §3.4.2.2): parsed with scim2-filter-parser, checked, evaluated.

A filter is parsed into scim2-filter-parser's syntax tree, then compiled against the
resource model (scim2-models) into a small typed tree: every attribute it names must
exist (else ``invalidFilter``), and each comparison knows its attribute's type and
``caseExact``. The compiled filter is evaluated in Python over a candidate set that the
store has already narrowed to one tenant and one resource type (and, for the equality
probes IdPs send — ``userName eq``, ``externalId eq``, ``displayName eq``, ``id eq`` — to
the rows an index finds, see ``equality_hint``). No filter text ever reaches SQL.

Three corrections to scim2-filter-parser 0.7.0, made by subclassing rather than by
hand-written parsing:

- precedence: the library gives ``and`` and ``or`` one level, so ``a or b and c`` parsed
  as ``(a or b) and c``; RFC 7644 says ``and`` binds tighter. The parser is rebuilt from
  the library's own grammar rules with the RFC's precedence table.
- numbers: the library lexes one digit only (``x eq 15`` failed); JSON numbers now lex.
- literals: strings are JSON strings (``\\"`` escapes work), and ``true``/``false``/``null``
  /numbers keep their JSON type, so ``active eq true`` and ``title eq "true"`` differ.

Semantics chosen where the RFC leaves room: a multi-valued complex attribute compared
without a sub-attribute compares its ``value`` sub-attribute (``emails co "@x"``); ``ne``
matches when no value equals the operand (an unassigned attribute matches ``ne``);
``eq null`` matches an unassigned attribute; ``gt``/``ge``/``lt``/``le`` on a boolean, and
``co``/``sw``/``ew`` on anything but a string, are ``invalidFilter``.

Over 400 lines: subclasses of scim2-filter-parser's lexer and parser (three fixes) beside
the evaluator they feed.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from inspect import isclass
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from scim2_filter_parser import ast as fast  # type: ignore[import-untyped]
from scim2_filter_parser.lexer import SCIMLexer  # type: ignore[import-untyped]
from scim2_filter_parser.parser import SCIMParser  # type: ignore[import-untyped]
from scim2_models import ComplexAttribute, Path, Resource
from sly.yacc import ParserMeta  # type: ignore[import-untyped]

from .errors import ScimError, invalid_filter

MAX_FILTER_LENGTH = 4096  # IdPs send short filters; a long one is a mistake or an attack
# IdPs nest at most two levels and join at most a few terms; the parser, compiler and
# evaluator recurse once per level and per logical operator, so both are bounded well
# below the interpreter's recursion limit.
MAX_FILTER_DEPTH = 16  # ( and [ open at once
MAX_FILTER_OPERATORS = 64  # and, or, not

_F = TypeVar("_F", bound=Callable[..., Any])


def _pattern(regex: str) -> Callable[[_F], _F]:
    """sly's ``@_`` (a name its metaclass injects), spelled so linters can read it."""

    def mark(func: _F) -> _F:
        func.pattern = regex  # type: ignore[attr-defined]
        return func

    return mark


class _Lexer(SCIMLexer):  # type: ignore[misc]
    tokens = SCIMLexer.tokens

    @_pattern(r'"(?:[^"\\]|\\.)*"')
    def COMP_VALUE(self, t: Any) -> Any:
        t.value = json.loads(t.value)
        if not _is_unicode(t.value):  # "\ud800": no UTF-8 for it, nothing can equal it
            raise invalid_filter("a string in the filter holds a lone UTF-16 surrogate")
        return t

    @_pattern(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
    def NUMBER(self, t: Any) -> Any:
        t.value = json.loads(t.value)
        return t

    @_pattern(r"true")
    def TRUE(self, t: Any) -> Any:
        t.value = True
        return t

    @_pattern(r"false")
    def FALSE(self, t: Any) -> Any:
        t.value = False
        return t

    @_pattern(r"null")
    def NULL(self, t: Any) -> Any:
        t.value = None
        return t


def _rfc_parser() -> Any:
    """scim2-filter-parser's grammar with RFC 7644's precedence: not > and > or."""
    namespace = ParserMeta.__prepare__("_Parser", (SCIMParser,))
    for name, value in vars(SCIMParser).items():
        if callable(value) and hasattr(value, "rules"):
            dict.__setitem__(namespace, name, value)
    dict.__setitem__(namespace, "tokens", SCIMParser.tokens)
    dict.__setitem__(namespace, "precedence", (("left", "OR"), ("left", "AND"), ("right", "NOT")))
    return ParserMeta("_Parser", (SCIMParser,), namespace)


_Parser = _rfc_parser()

Scalar = str | int | float | bool | None
Kind = Literal["string", "boolean", "number", "datetime", "complex"]
Op = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
_OPS: frozenset[str] = frozenset(("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"))


def fold(value: str) -> str:
    """The form case-insensitive strings compare in (also the userName uniqueness key)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


# -- the compiled tree ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attr:
    """An attribute a filter names; ``urn`` set only for an extension's attribute."""

    urn: str | None
    name: str
    sub: str | None
    kind: Kind
    case_exact: bool
    multi: bool


@dataclass(frozen=True, slots=True)
class Compare:
    attr: Attr
    op: Op
    value: Scalar | dt.datetime


@dataclass(frozen=True, slots=True)
class Present:
    attr: Attr


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``emails[type eq "work"]`` (``then`` None) or ``emails[type eq "work"].value ew …``."""

    attr: Attr  # the multi-valued attribute
    inner: Node  # evaluated on each of its values
    then: Compare | Present | None = None  # on the sub-attribute of the matching values


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    inner: Node


Node = Compare | Present | ValuePath | And | Or | Not


@dataclass(frozen=True, slots=True)
class ScimFilter:
    text: str
    root: Node

    def matches(self, doc: Mapping[str, Any]) -> bool:
        return _eval(self.root, doc)

    def equality_hint(self) -> tuple[str, str] | None:
        """``(attribute, value)`` of a top-level ``eq`` an index can answer, if any.

        The attribute is one of ``userName``, ``externalId``, ``displayName``, ``id``;
        the caller still evaluates the whole filter on what the index returns.
        """
        return _hint(self.root)


# -- parsing and compiling -----------------------------------------------------------


def parse_filter(text: str, model: type[Resource[Any]]) -> ScimFilter:
    """Parse and check ``text`` against ``model``; ``invalidFilter`` when it cannot be used."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise invalid_filter("the filter is empty")
    try:
        tokens = list(_Lexer().tokenize(text))
        _check_shape(tokens)
        tree = _Parser().parse(iter(tokens))
    except ScimError:
        raise
    except Exception as exc:  # the library raises bare Exception subclasses
        raise invalid_filter(
            f"the filter {text!r} is not valid SCIM filter syntax: {exc}"
        ) from None
    if tree is None:
        raise invalid_filter(f"the filter {text!r} is not valid SCIM filter syntax")
    return ScimFilter(text, _Compiler(model).node(tree))


def _check_shape(tokens: list[Any]) -> None:
    depth = deepest = operators = 0
    for token in tokens:
        if token.type in ("LPAREN", "LBRACKET"):
            depth += 1
            deepest = max(deepest, depth)
        elif token.type in ("RPAREN", "RBRACKET"):
            depth -= 1
        elif token.type in ("AND", "OR", "NOT"):
            operators += 1
    if deepest > MAX_FILTER_DEPTH:
        raise invalid_filter(
            f"the filter nests ( ) and [ ] {deepest} deep; at most {MAX_FILTER_DEPTH} are allowed"
        )
    if operators > MAX_FILTER_OPERATORS:
        raise invalid_filter(
            f"the filter joins {operators} terms with and/or/not; at most "
            f"{MAX_FILTER_OPERATORS} are allowed"
        )


def _is_unicode(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Compiler:
    def __init__(self, model: type[Resource[Any]]) -> None:
        self.model = model
        self.core_urn = str(model.__schema__).lower()

    def node(self, n: Any, parent: Attr | None = None) -> Node:
        if isinstance(n, fast.Filter):
            if n.namespace is not None:  # attrPath "[" valFilter "]"
                if parent is not None:
                    raise invalid_filter("a filter inside [ ] cannot hold another [ ]")
                attr = self.attr(n.namespace, None, value_path=True)
                inner = self.node(n.expr, parent=attr)
                base = Attr(attr.urn, attr.name, None, "complex", False, True)
                if attr.sub is None:
                    return ValuePath(base, inner)
                leaf = Attr(None, attr.sub, None, attr.kind, attr.case_exact, False)
                return ValuePath(base, inner, Present(leaf))
            inner_node = self.node(n.expr, parent)
            return Not(inner_node) if n.negated else inner_node
        if isinstance(n, fast.LogExpr):
            left, right = self.node(n.expr1, parent), self.node(n.expr2, parent)
            return And(left, right) if n.op.lower() == "and" else Or(left, right)
        if isinstance(n, fast.AttrExpr):
            return self.expr(n, parent)
        raise invalid_filter(f"unsupported filter element {type(n).__name__}")  # pragma: no cover

    def expr(self, n: Any, parent: Attr | None) -> Node:
        op = str(n.value).lower()
        path = n.attr_path
        if isinstance(path.attr_name, fast.Filter):  # emails[type eq "work"].value op value
            if parent is not None:
                raise invalid_filter("a filter inside [ ] cannot hold another [ ]")
            vp = path.attr_name
            attr = self.attr(vp.namespace, None, value_path=True)
            inner = self.node(vp.expr, parent=attr)
            leaf = Attr(None, attr.sub or "value", None, attr.kind, attr.case_exact, False)
            then = self.leaf(leaf, op, n.comp_value)
            base = Attr(attr.urn, attr.name, None, "complex", False, True)
            return ValuePath(base, inner, then)
        attr = self.attr(path, parent, value_path=False)
        return self.leaf(attr, op, n.comp_value)

    def leaf(self, attr: Attr, op: str, comp: Any) -> Compare | Present:
        if op == "pr":
            return Present(attr)
        if op not in _OPS:  # pragma: no cover - the grammar only knows these
            raise invalid_filter(f"the operator {op!r} is not supported")
        value: Scalar = comp.value if comp is not None else None
        if attr.kind == "boolean" and op not in ("eq", "ne"):
            raise invalid_filter(f"{attr.name!r} is a boolean: only eq and ne compare it")
        if op in ("co", "sw", "ew") and (attr.kind != "string" or not isinstance(value, str)):
            raise invalid_filter(f"{op} compares strings only")
        if op in ("gt", "ge", "lt", "le") and (value is None or isinstance(value, bool)):
            raise invalid_filter(f"{op} needs a string, number or date to compare with")
        if attr.kind == "datetime" and value is not None and not isinstance(value, str):
            # a number or boolean cannot be ordered against a date-time (TypeError: a 500)
            raise invalid_filter(
                f"{attr.name!r} is a date-time: compare it with an RFC 3339 string such as "
                '"2025-01-31T00:00:00Z"'
            )
        if attr.kind == "datetime" and isinstance(value, str):
            try:
                when = dt.datetime.fromisoformat(value)
            except ValueError:
                raise invalid_filter(f"{value!r} is not an RFC 3339 date-time") from None
            return Compare(attr, op, _aware(when))  # type: ignore[arg-type]
        return Compare(attr, op, value)  # type: ignore[arg-type]

    def attr(self, path: Any, parent: Attr | None, *, value_path: bool) -> Attr:
        name = str(path.attr_name)
        sub = str(path.sub_attr.value) if path.sub_attr is not None else None
        uri = str(path.uri) if path.uri is not None else None
        if parent is not None:  # a sub-attribute of the [ ]'s attribute
            if uri is not None or sub is not None:
                raise invalid_filter(f"{name!r} inside [ ] must be a plain sub-attribute")
            dotted = f"{parent.name}.{name}"
            kind, case_exact, _ = _describe(self.model, _qualified(parent.urn, dotted))
            return Attr(None, name, None, kind, case_exact, False)
        urn = None if uri is None or uri.lower() == self.core_urn else uri
        dotted = f"{name}.{sub}" if sub else name
        kind, case_exact, multi = _describe(self.model, _qualified(urn, dotted))
        if value_path and not multi:
            raise invalid_filter(f"{name!r} is not multi-valued: [ ] filters need a list")
        if not value_path and kind == "complex" and multi and sub is None:
            # `emails co "@x"` compares the values' `value` sub-attribute
            try:
                kind, case_exact, _ = _describe(self.model, _qualified(urn, f"{name}.value"))
                sub = "value"
            except ScimError:
                pass
        return Attr(urn, name, sub, kind, case_exact, multi)


def _qualified(urn: str | None, dotted: str) -> str:
    return f"{urn}:{dotted}" if urn else dotted


@lru_cache(maxsize=512)
def _describe(model: type[Resource[Any]], path: str) -> tuple[Kind, bool, bool]:
    """(kind, caseExact, multi-valued) of an attribute path, from the model's annotations."""
    try:
        binding = Path[model](path).resolve()  # type: ignore[valid-type]
    except Exception:
        binding = None
    if binding is None:
        raise invalid_filter(f"{path!r} is not an attribute of {model.__schema__}")
    field_type = binding.sub_field_type if binding.sub_field_name else binding.field_type
    return _kind(field_type), bool(binding.case_exact), bool(binding.is_multivalued)


def _kind(field_type: Any) -> Kind:
    while get_origin(field_type) is Annotated:
        field_type = get_args(field_type)[0]
    if field_type is bool:
        return "boolean"
    if field_type in (int, float):
        return "number"
    if field_type is dt.datetime:
        return "datetime"
    if isclass(field_type) and issubclass(field_type, ComplexAttribute):
        return "complex"
    return "string"  # str, references, enums, base64 binary


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


# -- evaluation ----------------------------------------------------------------------


def _get(container: Any, key: str) -> Any:
    """Attribute names are case-insensitive (RFC 7643 §2.1)."""
    if not isinstance(container, Mapping):
        return None
    if key in container:
        return container[key]
    lowered = key.lower()
    for k, v in container.items():
        if k.lower() == lowered:
            return v
    return None


def _raw(doc: Mapping[str, Any], attr: Attr) -> list[Any]:
    container = _get(doc, attr.urn) if attr.urn else doc
    value = _get(container, attr.name)
    items = value if isinstance(value, list) else [value]
    if attr.sub is not None:
        subs = [_get(item, attr.sub) for item in items]
        items = [x for s in subs for x in (s if isinstance(s, list) else [s])]
    return [i for i in items if i is not None and i != "" and i != [] and i != {}]


def _eval(node: Node, doc: Mapping[str, Any]) -> bool:
    match node:
        case And(left, right):
            return _eval(left, doc) and _eval(right, doc)
        case Or(left, right):
            return _eval(left, doc) or _eval(right, doc)
        case Not(inner):
            return not _eval(inner, doc)
        case Present(attr):
            return bool(_raw(doc, attr))
        case Compare(attr, op, value):
            return _compare(attr, op, value, _raw(doc, attr))
        case ValuePath(attr, inner, then):
            entries = [e for e in _raw(doc, attr) if isinstance(e, Mapping) and _eval(inner, e)]
            if then is None:
                return bool(entries)
            return any(_eval(then, e) for e in entries)


def _compare(attr: Attr, op: Op, operand: Any, values: list[Any]) -> bool:
    if operand is None:
        present = bool(values)
        return (not present) if op == "eq" else present if op == "ne" else False
    if op == "ne":
        return not _compare(attr, "eq", operand, values)
    return any(_one(attr, op, operand, v) for v in values)


def _one(attr: Attr, op: Op, operand: Any, value: Any) -> bool:
    if isinstance(value, Enum):
        value = value.value
    if attr.kind == "datetime":
        if not isinstance(value, dt.datetime):
            try:
                value = _aware(dt.datetime.fromisoformat(str(value)))
            except ValueError:
                return False
    elif isinstance(operand, bool) or isinstance(value, bool):
        if not (isinstance(operand, bool) and isinstance(value, bool)):
            return False
        return value == operand
    elif isinstance(operand, int | float):
        if not isinstance(value, int | float):
            return False
    elif isinstance(operand, str):
        if not isinstance(value, str):
            return False
        value = unicodedata.normalize("NFC", value)
        operand = unicodedata.normalize("NFC", operand)
        if not attr.case_exact:
            value, operand = fold(value), fold(operand)
    else:  # pragma: no cover
        return False
    match op:
        case "eq":
            return bool(value == operand)
        case "co":
            return bool(operand in value)
        case "sw":
            return bool(value.startswith(operand))
        case "ew":
            return bool(value.endswith(operand))
        case "gt":
            return bool(value > operand)
        case "ge":
            return bool(value >= operand)
        case "lt":
            return bool(value < operand)
        case "le":
            return bool(value <= operand)
    return False  # pragma: no cover


_INDEXED = ("username", "externalid", "displayname", "id")


def _hint(node: Node) -> tuple[str, str] | None:
    match node:
        case Compare(attr, "eq", str() as value) if (
            attr.urn is None and attr.sub is None and attr.name.lower() in _INDEXED
        ):
            return attr.name.lower(), value
        case And(left, right):
            return _hint(left) or _hint(right)
    return None


__all__ = ["ScimError", "ScimFilter", "fold", "parse_filter"]
