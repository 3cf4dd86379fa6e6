"""DLP on a running gateway: the profiles from their file, the worker pool, the hash key.

The ``hash`` operator's HMAC key is made at first start (``state/dlp-hash.key``, 0600):
equal values hash alike across records and restarts, and nobody without the key can test
guesses against the audit trail.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from warden.config import Config, ConfigError
from warden.dlp import DlpProfile, DlpRunner, ProfileError, load_profiles
from warden.keyfiles import read_or_create
from warden.lifeline import die_with_parent

HASH_KEY_FILE = "dlp-hash.key"


def _hash_key(state_dir: Path) -> bytes:
    text = read_or_create(state_dir / HASH_KEY_FILE, lambda: secrets.token_bytes(32).hex().encode())
    return bytes.fromhex(text.decode("ascii"))


def load_dlp_profiles(config: Config) -> dict[str, DlpProfile]:
    assert config.dlp is not None
    path = config.dlp.profiles_file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [f"cannot read the DLP profiles: {exc}"]) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(
            str(path), ["cannot read the DLP profiles: YAML collections nested too deeply"]
        ) from None
    try:
        profiles = load_profiles(data or {})
    except ProfileError as exc:
        raise ConfigError(str(path), list(exc.errors)) from None
    if config.dlp.default_profile is not None and config.dlp.default_profile not in profiles:
        raise ConfigError(
            "config",
            [f"dlp.default_profile: {config.dlp.default_profile!r} is not a profile in {path}"],
        )
    return profiles


def build_runner(config: Config, profiles: dict[str, DlpProfile]) -> DlpRunner:
    assert config.dlp is not None
    key = _hash_key(config.state_dir)
    return DlpRunner(
        profiles,
        hash_keys={pid: key for pid in profiles},
        workers=config.dlp.workers,
        timeout=config.dlp.timeout_s,
        lifeline=die_with_parent,
        file_timeout=config.dlp.files.timeout_s,
    )
