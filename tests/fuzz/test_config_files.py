"""Fuzzing the loaders that read files an operator (or whoever can write them) controls:
the gateway config, the policy and the DLP profiles.

Property: a file of any content yields a validated object or the loader's own error
(``ConfigError``, ``PolicyError``) naming the problem, never a traceback: not for bytes
that are not UTF-8, not for YAML nested deeper than the parser's recursion, not for
values of the wrong type anywhere in the real example files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from warden.config import Config, ConfigError, load_config
from warden.gateway.wiring.dlp import load_dlp_profiles
from warden.policy import PolicyError
from warden.policy.holder import PolicyHolder

from .strategies import json_values, mutated, scaled

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "packaging/warden.yaml").read_text(encoding="utf-8"))
POLICY = yaml.safe_load((ROOT / "packaging/demo/policy.yaml").read_text(encoding="utf-8"))
PROFILES = yaml.safe_load((ROOT / "packaging/demo/dlp-profiles.yaml").read_text(encoding="utf-8"))

DEEP = "[" * 5000 + "]" * 5000
NOT_UTF8 = "\udcff"  # written with surrogateescape: the byte 0xff


def _yaml(doc: object) -> str:
    return yaml.safe_dump(doc, allow_unicode=False)


def documents(base: object) -> st.SearchStrategy[str]:
    return st.one_of(
        mutated(base).map(_yaml),
        json_values.map(_yaml),
        st.text(max_size=80),
        st.lists(
            st.sampled_from(
                ["a:", " b", "- ", "[", "{", "&x", "*x", "!!python/object", "\n", "'", ": 1"]
            ),
            max_size=12,
        ).map("".join),
    )


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def test_config_file(tmp_path: Path) -> None:
    @scaled(0.3)
    @given(documents(CONFIG))
    @example(DEEP)
    @example(NOT_UTF8)
    def check(text: str) -> None:
        with contextlib.suppress(ConfigError):
            load_config(_write(tmp_path / "warden.yaml", text), env={})

    check()


def test_policy_text() -> None:
    @scaled(0.3)
    @given(documents(POLICY))
    @example(DEEP)
    def check(text: str) -> None:
        with contextlib.suppress(PolicyError):
            PolicyHolder.from_text(
                text, known_tenants=["acme", "globex"], known_dlp_profiles=["pii-basic", "secrets"]
            )

    check()


def test_dlp_profiles_file(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yaml"
    config = Config.model_validate({"dlp": {"profiles_file": str(profiles)}})

    @scaled(0.3)
    @given(documents(PROFILES))
    @example(DEEP)
    @example(NOT_UTF8)
    def check(text: str) -> None:
        _write(profiles, text)
        with contextlib.suppress(ConfigError):
            load_dlp_profiles(config)

    check()
