from __future__ import annotations

import pytest

from warden.providers import parse as parse_module
from warden.providers.catalog import Service
from warden.providers.jsonbody import MAX_BODY_BYTES
from warden.providers.parse import parse_request

from .helpers import parse, parse_sample
from .payloads import SAMPLES, Sample, compact


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_every_sample_parses(sample: Sample) -> None:
    parsed = parse_sample(sample)
    assert parsed.parsed and parsed.unparsed_reason is None
    assert parsed.service_id == sample.service_id
    assert parsed.segments


DEEP = b"[" * 10_000 + b"]" * 10_000
DEEP_INSIDE = b'{"messages":' + b"[" * 10_000 + b"]" * 10_000 + b"}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"not json", "body is not valid JSON"),
        (b'{"messages": [', "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "body is not valid JSON"),
        ('{"a": 1}'.encode("utf-16"), "body is not valid UTF-8"),
        (b"[]", "body is not a JSON object"),
        (b'"x"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
        (b'{"messages": "x"}', "messages is not a list"),
        (b'{"messages":[],"messages":[{"role":"user","content":"hidden"}]}', "duplicate JSON key"),
        (b'{"messages":[{"role":"user","content":"a","content":"b"}]}', "duplicate JSON key"),
        (b'{"messages": [], "n": ' + b"9" * 5000 + b"}", "body is not valid JSON"),
        (DEEP, "body nesting too deep"),
        (DEEP_INSIDE, "body nesting too deep"),
        (b" " * (MAX_BODY_BYTES + 1), "body too large"),
    ],
)
def test_hostile_bodies_are_unparsed(body: bytes, reason: str) -> None:
    parsed = parse("openai", "/v1/chat/completions", body)
    assert parsed.unparsed_reason == reason
    assert (parsed.api, parsed.parsed, parsed.rewritable, parsed.segments) == (
        "openai.chat_completions",
        False,
        False,
        (),
    )


def test_reasons_never_echo_the_body() -> None:
    secret = "SECRET-4111111111111111"
    for body in (secret.encode(), f'{{"messages": "{secret}"}}'.encode(), f'["{secret}"]'.encode()):
        parsed = parse("openai", "/v1/chat/completions", body)
        assert secret not in (parsed.unparsed_reason or "")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files"),  # GET /v1/models is a side call (test_sidecalls.py)
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/models"),  # POST /v1/files is an upload (test_uploads.py)
        ("DELETE", "/v1/responses/resp_1"),
        ("OPTIONS", "/v1/chat/completions"),
        ("POST", "/v2/chat/completions"),
        ("POST", "/v1/chat/completions/extra"),
    ],
)
def test_not_inference(method: str, path: str) -> None:
    parsed = parse("openai", path, b"", method=method)
    assert parsed == parsed.unparsed("openai", "not an inference endpoint")
    assert parsed.api is None and parsed.model is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions?foo=bar",
        "//v1//chat/completions/",
        "/v1/./chat/completions",
        "/v1/x/../chat/completions",
        "/v1/chat/%63ompletions",
        "/V1/Chat/Completions",
        "/v1/chat/completions#frag",
    ],
)
def test_disguised_inference_paths_are_recognized(path: str) -> None:
    parsed = parse("openai", path, compact({"messages": [{"role": "user", "content": "hi"}]}))
    assert (parsed.api, parsed.parsed) == ("openai.chat_completions", True)


def test_method_is_case_insensitive() -> None:
    parsed = parse("openai", "/v1/embeddings", compact({"input": "x"}), method="post")
    assert parsed.api == "openai.embeddings"


def test_unknown_service() -> None:
    service = Service("mistral", "mistral", "api", ("api.mistral.ai",), "Mistral")
    parsed = parse_request(service, "POST", "/v1/chat/completions", {}, b"{}")
    assert parsed == parsed.unparsed("mistral", "no request shape for this service")


def test_internal_errors_do_not_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> object:
        raise KeyError("bug")

    monkeypatch.setattr(parse_module, "_parse", boom)
    parsed = parse("openai", "/v1/chat/completions", b"{}")
    assert (parsed.api, parsed.unparsed_reason) == (
        "openai.chat_completions",
        "request could not be parsed",
    )


def test_recursion_error_in_extraction_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def deep(*args: object) -> object:
        raise RecursionError

    monkeypatch.setattr(parse_module, "_parse", deep)
    parsed = parse("gemini", "/v1beta/models/m:generateContent", b"{}")
    assert (parsed.api, parsed.model, parsed.unparsed_reason) == (
        "gemini.generate_content",
        "m",
        "body nesting too deep",
    )


GEMINI_BODY = compact({"contents": [{"parts": [{"text": "hi"}]}]})


def test_routes_are_remembered_by_path_never_by_query() -> None:
    # Gemini clients may put their API key in the query: the route cache must not hold it.
    parse_module._cached_route.cache_clear()
    for key in ("AIza-first", "AIza-second", "AIza-third"):
        path = f"/v1beta/models/gemini-2.0-flash:generateContent?key={key}"
        parsed = parse("gemini", path, GEMINI_BODY)
        assert (parsed.api, parsed.model) == ("gemini.generate_content", "gemini-2.0-flash")
    info = parse_module._cached_route.cache_info()
    assert (info.currsize, info.hits) == (1, 2)


def test_long_paths_are_routed_but_not_remembered() -> None:
    parse_module._cached_route.cache_clear()
    model = "m" * parse_module.ROUTE_CACHE_MAX_PATH
    parsed = parse("gemini", f"/v1beta/models/{model}:generateContent", GEMINI_BODY)
    assert (parsed.api, parsed.model) == ("gemini.generate_content", model)
    assert parse_module._cached_route.cache_info().currsize == 0


def test_remembered_routes_are_bounded() -> None:
    parse_module._cached_route.cache_clear()
    maxsize = parse_module._cached_route.cache_info().maxsize
    assert maxsize is not None
    for i in range(maxsize + 10):
        parsed = parse("gemini", f"/v1beta/models/m{i}:generateContent", GEMINI_BODY)
        assert parsed.model == f"m{i}"
    assert parse_module._cached_route.cache_info().currsize == maxsize
