"""FlowContext round-trips through flow.metadata and through mitmproxy's flow files."""

from __future__ import annotations

import io

import pytest
from mitmproxy import io as mio
from mitmproxy.test import tflow

from warden.context import (
    METADATA_KEY,
    Decision,
    Destination,
    EntityCount,
    FlowContext,
    Principal,
    Redaction,
    Usage,
)

FULL = FlowContext(
    destination=Destination(
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
    principal=Principal(
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
