from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pytest

from warden.providers.jsonbody import get_at, set_at
from warden.providers.rewrite import rewrite_request
from warden.providers.shapes import ParsedRequest

from .helpers import parse, parse_sample
from .payloads import GEMINI_WEB_AT, GEMINI_WEB_PATH, SAMPLES, Sample, compact, gemini_web_body


def _decode(sample: Sample, body: bytes) -> object:
    if sample.service_id != "gemini-web":
        return json.loads(body)
    pairs = body.decode().split("&")
    freq = json.loads(unquote_plus(pairs[0].partition("=")[2]))
    return {"f.req": freq, "rest": pairs[1:]}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_round_trip(sample: Sample) -> None:
    before = parse_sample(sample)
    new = {seg.path: f"«R{i}» ünïcode" for i, seg in enumerate(before.segments)}
    body = rewrite_request(before, sample.body, new)
    after = parse(sample.service_id, sample.path, body, dict(sample.headers))
    assert [s.text for s in after.segments] == list(new.values())
    assert [(s.path, s.role) for s in after.segments] == [(s.path, s.role) for s in before.segments]
    assert (after.api, after.model, after.stream, after.parsed, after.rewritable) == (
        before.api,
        before.model,
        before.stream,
        before.parsed,
        before.rewritable,
    )
    # Every other field keeps its value: putting the old texts back gives the original.
    restored = _decode(sample, body)
    for seg in before.segments:
        restored = set_at(restored, seg.path, seg.text)
    assert restored == _decode(sample, sample.body)
    assert "«R0» ünïcode".encode() in body or sample.service_id == "gemini-web"


def test_json_output_is_compact_utf8() -> None:
    body = b'{ "model" : "m",\n "messages": [ {"role": "user", "content": "a"} ] }'
    parsed = parse("openai", "/v1/chat/completions", body)
    out = rewrite_request(parsed, body, {("messages", 0, "content"): "Grüße"})
    assert out == '{"model":"m","messages":[{"role":"user","content":"Grüße"}]}'.encode()


def test_api_string_is_accepted_and_empty_replacements_keep_the_body() -> None:
    body = b'{"input": "x"}'
    assert rewrite_request("openai.embeddings", body, {}) == body
    assert rewrite_request("openai.embeddings", body, {("input",): "y"}) == b'{"input":"y"}'


def test_lone_surrogates_fall_back_to_escapes() -> None:
    body = b'{"input": "\\ud83d"}'
    out = rewrite_request("openai.embeddings", body, {("input",): "y\ud800"})
    assert out == b'{"input":"y\\ud800"}'


def test_gemini_web_keeps_other_fields_byte_for_byte() -> None:
    body = gemini_web_body()
    parsed = parse("gemini-web", GEMINI_WEB_PATH, body)
    out = rewrite_request(parsed, body, {("f.req", 1, "<json>", 0, 0): "Wer ist <PERSON>?"})
    prefix, _, rest = out.partition(b"&")
    assert rest == body.partition(b"&")[2]
    assert rest.startswith(b"at=AJvLN6M9x-Zk0%3A1731000000000&")
    outer = json.loads(unquote_plus(prefix.decode().removeprefix("f.req=")))
    inner = json.loads(outer[1])
    assert outer[0] is None and inner[0][0] == "Wer ist <PERSON>?"
    assert inner[1:] == json.loads(json.loads(unquote_plus(body.decode().split("&")[0][6:]))[1])[1:]
    assert GEMINI_WEB_AT  # the fixture's token is what the assertion above spells


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("messages", 0, "role", "x"), "does not exist in the body"),
        (("messages", 5, "content"), "does not exist in the body"),
        (("messages", 0), "does not point at a string"),
        (("model", "<json>", 0), "does not point at a JSON string"),
        (("messages", "0", "content"), "does not exist in the body"),
        (("messages", True, "content"), "does not exist in the body"),
        ((), "does not point at a string"),
    ],
)
def test_bad_paths(path: tuple[str | int, ...], message: str) -> None:
    body = compact({"model": "m", "messages": [{"role": "user", "content": "a"}]})
    with pytest.raises(ValueError, match=f"segment path .* {message}; rewrite only the paths"):
        rewrite_request("openai.chat_completions", body, {path: "x"})


def test_refuses_unparsed_signed_and_non_string() -> None:
    body = compact({"messages": [{"role": "user", "content": "a"}]})
    unparsed = ParsedRequest.unparsed("openai", "not an inference endpoint")
    with pytest.raises(ValueError, match=r"not parsed \(not an inference endpoint\); block it"):
        rewrite_request(unparsed, body, {("messages", 0, "content"): "x"})
    signed = parse("bedrock", "/model/m/converse", compact({"messages": []}), {})
    assert signed.parsed and not signed.rewritable
    with pytest.raises(ValueError, match=r"bedrock\.converse request is signed"):
        rewrite_request(signed, b"{}", {("messages",): "x"})
    with pytest.raises(ValueError, match="is not a string"):
        rewrite_request("openai.chat_completions", body, {("messages", 0, "content"): 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"cannot rewrite the openai\.chat_completions body: body"):
        rewrite_request("openai.chat_completions", b"[1]", {("a",): "x"})


def test_form_paths_must_start_with_a_field() -> None:
    body = gemini_web_body()
    with pytest.raises(ValueError, match="does not start with a form field name"):
        rewrite_request("gemini_web.stream_generate", body, {(1, 0): "x"})
    with pytest.raises(ValueError, match="body: form field nope is missing"):
        rewrite_request("gemini_web.stream_generate", body, {("nope", 0): "x"})
    with pytest.raises(ValueError, match="body: body is not valid JSON"):
        rewrite_request("gemini_web.stream_generate", body, {("at", 0): "x"})
    with pytest.raises(ValueError, match=r"segment path \('f.req', 1, '<json>', 9\) does not"):
        rewrite_request("gemini_web.stream_generate", body, {("f.req", 1, "<json>", 9): "x"})
    assert get_at({"a": '["x"]'}, ("a", "<json>", 0)) == "x"
