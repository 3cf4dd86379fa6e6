"""FlowContext round-trips through flow.metadata and through mitmproxy's flow files."""

from __future__ import annotations

import dataclasses
import inspect
import io
from typing import Any

import pytest
from mitmproxy import io as mio
from mitmproxy.test import tflow

from warden.addons.flowcontext import (
    METADATA_KEY,
    CatalogDestination,
    Decision,
    EntityCount,
    FlowContext,
    Redaction,
    ResolvedPrincipal,
    Usage,
)

FULL = FlowContext(
    destination=CatalogDestination(
        "openai",
        "openai",
        "api",
        "api.openai.com",
        "openai.chat_completions",
        "gpt-4o",
        True,
        True,
        None,
        2,
    ),
    principal=ResolvedPrincipal(
        "acme",
        "https://idp.example",
        "u-1",
        "device",
        "ann@example.com",
        "eng",
        ("llm-users", "eng"),
    ),
    decision=Decision("redact", "acme/eng/1", "sha256:abc", "department rule"),
    redaction=Redaction((EntityCount("EMAIL_ADDRESS", 2, "messages[0]"),)),
    usage=Usage(12, 34, False),
    outcome=None,
    notes=("unparsed field ignored",),
)


def test_empty_flow_has_empty_context() -> None:
    assert FlowContext.of(tflow.tflow()) == FlowContext()


def test_round_trip_through_metadata_is_plain_data() -> None:
    flow = tflow.tflow()
    FULL.save(flow)
    raw = flow.metadata[METADATA_KEY]
    assert isinstance(raw, dict)
    assert raw["principal"]["groups"] == ["llm-users", "eng"]
    assert FlowContext.of(flow) == FULL


def test_round_trip_through_mitmproxy_flow_file() -> None:
    flow = tflow.tflow(resp=True)
    FULL.save(flow)
    buf = io.BytesIO()
    mio.FlowWriter(buf).add(flow)
    buf.seek(0)
    (loaded,) = list(mio.FlowReader(buf).stream())
    assert FlowContext.of(loaded) == FULL


def test_non_plain_values_are_refused() -> None:
    bad = FlowContext(notes=(object(),))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="only plain values"):
        bad.save(tflow.tflow())


def test_garbage_metadata_reads_as_empty() -> None:
    flow = tflow.tflow()
    flow.metadata[METADATA_KEY] = "not a dict"
    assert FlowContext.of(flow) == FlowContext()


def test_successive_saves_write_what_a_fresh_save_would() -> None:
    """Saves reuse the plain form of unchanged fields; the result must not differ."""
    from warden.addons.flowcontext import _to_plain

    flow = tflow.tflow()
    ctx = FlowContext(destination=FULL.destination)
    ctx.save(flow)
    for change in (
        {"principal": FULL.principal},
        {"destination": CatalogDestination("anthropic", "anthropic", "api", "api.anthropic.com")},
        {"usage": FULL.usage, "outcome": "redacted"},
        {"principal": None},
    ):
        ctx = FlowContext.of(flow).replace(**change)
        ctx.save(flow)
        assert flow.metadata[METADATA_KEY] == _to_plain(ctx)
    assert FlowContext.of(flow) == ctx


def test_a_save_after_the_metadata_was_replaced_starts_afresh() -> None:
    flow = tflow.tflow()
    FULL.save(flow)
    stale = FlowContext.of(flow)
    flow.metadata[METADATA_KEY] = {"outcome": "blocked"}  # e.g. a flow loaded from a file
    stale.replace(notes=()).save(flow)
    assert flow.metadata[METADATA_KEY]["destination"]["host"] == "api.openai.com"
    assert flow.metadata[METADATA_KEY]["outcome"] is None


def test_replace_refuses_unknown_fields() -> None:
    with pytest.raises(TypeError, match="bogus"):
        FULL.replace(bogus=1)  # type: ignore[call-arg]


def test_replace_names_every_field_and_changes_only_those_given() -> None:
    # replace is spelled out field by field (speed): a field added to FlowContext must be
    # added there too, or it would be dropped from every copy.
    names = [p for p in inspect.signature(FlowContext.replace).parameters if p != "self"]
    assert names == [f.name for f in dataclasses.fields(FlowContext)]
    for name in names:
        change: dict[str, Any] = {name: None if name != "notes" else ("x",)}
        copy = FULL.replace(**change)
        for other in names:
            if other != name:
                assert getattr(copy, other) is getattr(FULL, other)
        assert getattr(copy, name) == (None if name != "notes" else ("x",))
