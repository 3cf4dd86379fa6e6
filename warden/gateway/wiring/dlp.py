"""DLP on a running gateway: the profiles from their file, the worker pool, the hash key.

The ``hash`` operator's HMAC key is made at first start (``state/dlp-hash.key``, 0600):
equal values hash alike across records and restarts, and nobody without the key can test
guesses against the audit trail.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from warden.config import Config, ConfigError
from warden.config.validation import Problem, read_dlp_profiles
from warden.dlp import DlpProfile, DlpRunner
from warden.keyfiles import read_or_create
from warden.lifeline import die_with_parent

HASH_KEY_FILE = "dlp-hash.key"


def _hash_key(state_dir: Path) -> bytes:
    text = read_or_create(state_dir / HASH_KEY_FILE, lambda: secrets.token_bytes(32).hex().encode())
    return bytes.fromhex(text.decode("ascii"))


def load_dlp_profiles(config: Config) -> dict[str, DlpProfile]:
    """The configured profiles; ``ConfigError`` naming every problem of their file."""
    problems: list[Problem] = []
    profiles = read_dlp_profiles(config, "config", problems)
    if profiles is None or problems:
        raise ConfigError("the DLP profiles", [str(p) for p in problems])
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
