"""Config validation: every error at once, with key path, value and what is allowed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warden.config import (
    UNSAFE_TESTING_CONSENT,
    UNSAFE_TESTING_ENV,
    ConfigError,
    load_config,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "warden.yaml"


def _parse(data: object, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(data, "test.yaml", Path("/srv/warden"), env or {})


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.proxy.listen.port == 8080
    assert config.state_dir == (EXAMPLE.parent / "../state").resolve()
    assert config.unsafe_testing is None


def test_empty_document_gives_defaults_and_resolves_state_dir() -> None:
    config = _parse(None)
    assert config.state_dir == Path("/srv/warden/state")
    assert config.ca.name_constraints is True


def test_all_errors_are_reported_together_with_paths_and_values() -> None:
    with pytest.raises(ConfigError) as info:
        _parse(
            {
                "proxy": {"listen": {"port": 99999}},
                "control": {"listen": {"host": "example.com", "port": 8081}},
                "catalog": {"unsanctioned": [{"host": "https://evil.example/x"}]},
                "logg": {"level": "info"},
            }
        )
    problems = info.value.problems
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert (
        "proxy.listen.port: 99999 is not allowed: Input should be less than or equal to 65535"
        in text
    )
    assert "control.listen.host: 'example.com' is not allowed" in text
    assert (
        "catalog.unsanctioned.0.host: 'https://evil.example/x' is not allowed: must be a host name"
        in text
    )
    assert "logg: unknown key" in text


def test_same_port_for_proxy_and_control_is_refused() -> None:
    with pytest.raises(ConfigError, match="the proxy already listens there"):
        _parse({"proxy": {"listen": {"port": 9000}}, "control": {"listen": {"port": 9000}}})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://10.0.0.5:4010", "loopback"),
        ("http://api.openai.com:443", "loopback"),
        ("http://127.0.0.1", "must name the port"),
        ("ftp://127.0.0.1:21", "must be a URL"),
        ("http://127.0.0.1:4010/v1", "must be a URL"),
    ],
)
def test_unsafe_routing_only_to_loopback(target: str, message: str) -> None:
    env = {UNSAFE_TESTING_ENV: UNSAFE_TESTING_CONSENT}
    with pytest.raises(ConfigError, match=message):
        _parse({"unsafe_testing": {"route_catalog_hosts_to": target}}, env)


def test_unsafe_routing_needs_the_environment_consent() -> None:
    block = {"unsafe_testing": {"route_catalog_hosts_to": "http://127.0.0.1:4010"}}
    with pytest.raises(ConfigError, match=f"lacks {UNSAFE_TESTING_ENV}="):
        _parse(block, {})
    with pytest.raises(ConfigError):
        _parse(block, {UNSAFE_TESTING_ENV: "1"})
    config = _parse(block, {UNSAFE_TESTING_ENV: UNSAFE_TESTING_CONSENT})
    assert config.unsafe_testing is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("proxy: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_unreadable_documents(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --config"):
        load_config(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("value", "count"), [(None, 1), (1, 1), (3, 3), ("auto", len(os.sched_getaffinity(0)))]
)
def test_proxy_workers(value: object, count: int) -> None:
    proxy = {} if value is None else {"workers": value}
    assert _parse({"proxy": proxy}).proxy.worker_count == count


@pytest.mark.parametrize("value", [0, -1, 65, "all", 1.5, True])
def test_proxy_workers_refuses_what_is_not_a_count(value: object) -> None:
    with pytest.raises(ConfigError, match=r"proxy\.workers"):
        _parse({"proxy": {"workers": value}})
