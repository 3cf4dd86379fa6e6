"""FlowContext: what the addons learn about one flow, kept in ``flow.metadata["warden"]``.

mitmproxy's flow writer serializes metadata with tnetstring, which takes only plain
values, so the context lives there as a dict of str/int/float/bool/None/list and is
turned into frozen dataclasses on the way out (``FlowContext.of``) and back into a dict
on the way in (``.save``). Addons never touch the dict directly.

The decision is the policy's own (``policy.PolicyDecision``) and the usage the provider's
(``providers.Usage``): one definition each. `ResolvedPrincipal` and `CatalogDestination`
are the flow's own and named so: they are not the audit record's ``Principal`` and
``Destination`` (``audit.record``), which are the trail's wire schema (an unauthenticated
client with no issuer, its address, no tenant; ``service``/``api_kind``, no parse state)
and are built from these by ``audit.flowrecord``.

Nothing secret goes in: no token, password, cookie or raw sensitive value. Saved flows
and the audit trail are read by people who must not see those.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
import weakref
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, Self

from warden.policy.engine import PolicyDecision as Decision
from warden.providers.shapes import Usage

METADATA_KEY = "warden"


class _HasMetadata(Protocol):
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CatalogDestination:
    """Where the flow goes in the catalog's terms (service id, kind) and what the provider
    adapter understood of it; the record's ``audit.record.Destination`` is its fitted part."""

    service_id: str
    provider: str
    kind: str  # "api" or "webapp"
    host: str
    api: str | None = None
    model: str | None = None
    stream: bool = False
    parsed: bool = False
    unparsed_reason: str | None = None
    segments: int = 0
    #: The provider's or agent's conversation id (``providers.conversations``), if any.
    conversation: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedPrincipal:
    """The person or service the identity layer resolved for a flow (always a tenant and
    ``iss`` + ``sub``); the record's ``audit.record.Principal`` is its fitted part."""

    tenant: str
    issuer: str
    subject: str
    auth_method: str
    email: str | None = None
    department: str | None = None
    groups: tuple[str, ...] = ()
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class EntityCount:
    entity_type: str
    count: int
    segment: str


@dataclass(frozen=True, slots=True)
class Redaction:
    entities: tuple[EntityCount, ...] = ()


class _Keep:
    """The default of `FlowContext.replace`'s parameters: leave this field as it is."""

    __slots__ = ()


_KEEP: Final = _Keep()


@dataclass(frozen=True, slots=True)
class FlowContext:
    destination: CatalogDestination | None = None
    principal: ResolvedPrincipal | None = None
    decision: Decision | None = None
    redaction: Redaction | None = None
    usage: Usage | None = None
    #: Set when an addon answered the flow itself (block page, 407, 403 ...).
    outcome: str | None = None
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, flow: _HasMetadata) -> FlowContext:
        raw = flow.metadata.get(METADATA_KEY)
        if not isinstance(raw, dict):
            return _EMPTY if cls is FlowContext else cls()
        cached = _decoded.get(flow)
        if cached is not None and cached.raw is raw:
            return cached.ctx
        ctx = _from_plain(cls, raw)
        _remember(flow, raw, ctx)
        return ctx

    def save(self, flow: _HasMetadata) -> None:
        cached = _decoded.get(flow)
        if cached is not None and flow.metadata.get(METADATA_KEY) is cached.raw:
            # Most saves change one field: the others keep the plain form they had (their
            # values are immutable, so the same object means the same plain form).
            old_raw, old = cached.raw, cached.ctx
            raw = {
                name: old_raw[name]
                if (value := getattr(self, name)) is getattr(old, name) and name in old_raw
                else _to_plain(value)
                for name in _CONTEXT_FIELDS
            }
        else:
            raw = _to_plain(self)
        flow.metadata[METADATA_KEY] = raw
        if cached is not None:  # the flow's entry is updated in place: no new weak reference
            cached.raw, cached.ctx = raw, self
        else:
            _remember(flow, raw, self)

    def replace(
        self,
        *,
        destination: CatalogDestination | _Keep | None = _KEEP,
        principal: ResolvedPrincipal | _Keep | None = _KEEP,
        decision: Decision | _Keep | None = _KEEP,
        redaction: Redaction | _Keep | None = _KEEP,
        usage: Usage | _Keep | None = _KEEP,
        outcome: str | _Keep | None = _KEEP,
        notes: tuple[str, ...] | _Keep = _KEEP,
    ) -> Self:
        """A copy with the given fields changed. Spelled out field by field: it runs in
        every hook, and ``dataclasses.replace`` looks the fields up on every call."""
        copy = object.__new__(type(self))
        _set = object.__setattr__
        _set(copy, "destination", self.destination if destination is _KEEP else destination)
        _set(copy, "principal", self.principal if principal is _KEEP else principal)
        _set(copy, "decision", self.decision if decision is _KEEP else decision)
        _set(copy, "redaction", self.redaction if redaction is _KEEP else redaction)
        _set(copy, "usage", self.usage if usage is _KEEP else usage)
        _set(copy, "outcome", self.outcome if outcome is _KEEP else outcome)
        _set(copy, "notes", self.notes if notes is _KEEP else notes)
        return copy


__all__ = [
    "CatalogDestination",
    "Decision",
    "EntityCount",
    "FlowContext",
    "Redaction",
    "ResolvedPrincipal",
    "Usage",
    "forget",
]


_CONTEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FlowContext))
#: The context of a flow no addon has written to yet (immutable, so one will do).
_EMPTY: Final = FlowContext()


class _Decoded:
    """A flow's context and the metadata dict it was decoded from (or saved as)."""

    __slots__ = ("ctx", "raw")

    def __init__(self, raw: dict[str, Any], ctx: FlowContext) -> None:
        self.raw = raw
        self.ctx = ctx


# Every addon reads the context in each hook; decoding the dict each time costs more than
# the addons' own work. The decoded context is kept per flow, valid while the metadata
# still holds the very dict it was decoded from (anything that replaces it is seen).
_decoded: weakref.WeakKeyDictionary[Any, _Decoded] = weakref.WeakKeyDictionary()


def forget(flow: _HasMetadata) -> None:
    """Drop the flow's decoded context (its metadata keeps the context): call once no
    addon reads it any more, so that it is freed now instead of with the flow."""
    _decoded.pop(flow, None)


def _remember(flow: _HasMetadata, raw: dict[str, Any], ctx: FlowContext) -> None:
    # An object that takes no weak reference gets no cache; the result is still correct.
    try:  # noqa: SIM105 - contextlib.suppress costs a context manager on every hook call
        _decoded[flow] = _Decoded(raw, ctx)
    except TypeError:
        pass


def _to_plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _PLAIN_FIELDS.get(kind)
    if names is None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = _PLAIN_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
        elif isinstance(value, tuple | list):
            return [_to_plain(v) for v in value]
        elif isinstance(value, str | int | float | bool):
            return value
        else:
            raise TypeError(f"FlowContext holds only plain values, not {kind.__name__}")
    plain = {}
    for name in names:  # scalar fields inline: most fields are, and a call each adds up
        field_value = getattr(value, name)
        plain[name] = field_value if type(field_value) in _SCALARS else _to_plain(field_value)
    return plain


_SCALARS: frozenset[type] = frozenset({str, int, bool, float, type(None)})


# Field names per dataclass: dataclasses.fields() is too slow to call on every save.
_PLAIN_FIELDS: dict[type, tuple[str, ...]] = {}


@functools.cache
def _field_hints(cls: Any) -> tuple[tuple[str, Any], ...]:
    # get_type_hints evaluates the annotations: far too slow to repeat on every hook call.
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _from_plain[T](cls: type[T], data: dict[str, Any]) -> T:
    hints = _field_hints(typing.cast(Any, cls))
    kwargs = {name: _coerce(hint, data[name]) for name, hint in hints if name in data}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        return tuple(_coerce(item, v) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _from_plain(hint, value)  # type: ignore[arg-type]
    return value
