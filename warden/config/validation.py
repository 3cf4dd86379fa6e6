"""``validate_all``: the config, the catalog, the policy and the DLP profiles checked together.

``warden run`` (refuses to start), ``warden config check`` and ``warden doctor`` all call
it, so a broken policy or DLP profile file is found before the gateway starts, not by a
stop half-way through its start. Every problem is collected (never only the first), and
each one names the file and the key, the cause and the fix. Nothing here imports
mitmproxy or starts anything; reading the DLP profiles imports Presidio's recognizers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from warden.config import Config, ConfigError, load_config
from warden.providers.catalog import Catalog

if TYPE_CHECKING:
    from warden.dlp import DlpProfile

CONFIG_FIX = "correct the value (the annotated example config is packaging/warden.yaml)"
POLICY_FIX = "correct this entry of the policy file (`warden policy check FILE` lints it)"
DLP_FIX = "correct this entry of the DLP profiles file (docs/dlp.md lists the keys)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that stops the gateway: where (file and key), why, and what to do."""

    file: str
    key: str
    cause: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.cause} (fix: {self.fix})"


@dataclass(frozen=True, slots=True)
class Validation:
    """What was checked: ``config``/``catalog`` are None when they could not be built."""

    source: str
    config: Config | None = None
    catalog: Catalog | None = None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.problems

    def error(self) -> ConfigError:
        """Every problem as the ``ConfigError`` the CLI prints (exit code 2)."""
        return ConfigError(self.source, [str(p) for p in self.problems])


def validate_all(path: Path, env: Mapping[str, str] | None = None) -> Validation:
    """Check the config file at ``path`` and the files it names; never raises for a bad one."""
    source = str(path)
    try:
        config = load_config(path, dict(os.environ) if env is None else dict(env))
    except ConfigError as exc:
        return Validation(source, problems=tuple(_config_problems(exc)))
    problems: list[Problem] = []
    catalog = _catalog(config, source, problems)
    profiles = read_dlp_profiles(config, source, problems)
    _policy(config, source, None if profiles is None else set(profiles), problems)
    return Validation(source, config, catalog, tuple(problems))


def checked_config(path: Path) -> Config:
    """The config at ``path`` once everything it names is valid; else ``ConfigError``."""
    result = validate_all(path)
    if not result.ok or result.config is None:
        raise result.error()
    return result.config


def _config_problems(exc: ConfigError) -> list[Problem]:
    # ConfigError's entries read "key.path: cause"; the file is the error's source.
    out = []
    for text in exc.problems:
        key, sep, cause = text.partition(": ")
        if not sep or " " in key:
            key, cause = "", text
        out.append(Problem(exc.source, key, cause, CONFIG_FIX))
    return out


def _catalog(config: Config, source: str, problems: list[Problem]) -> Catalog | None:
    catalog = Catalog.default()
    known = sorted(s.id for s in catalog.services)
    unknown = [sid for sid in config.catalog.extra_hosts if sid not in known]
    for sid in unknown:
        problems.append(
            Problem(
                source,
                f"catalog.extra_hosts.{sid}",
                "unknown service",
                f"use one of the known services: {', '.join(known)}",
            )
        )
    if unknown:
        return None
    for sid, hosts in config.catalog.extra_hosts.items():
        catalog = catalog.with_extra_hosts(sid, hosts)
    return catalog


def read_dlp_profiles(
    config: Config, source: str, problems: list[Problem]
) -> dict[str, DlpProfile] | None:
    """The DLP profiles by id, or None (no DLP block, or its file is not valid: ``problems``)."""
    if config.dlp is None:
        return None
    from warden.dlp import ProfileError, load_profiles  # imports Presidio's recognizers

    path = config.dlp.profiles_file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(
            Problem(
                source,
                "dlp.profiles_file",
                f"{path} does not exist",
                "write the profiles file there or correct the path (relative to the config)",
            )
        )
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        cause = "collections nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        problems.append(Problem(str(path), "", f"cannot read the DLP profiles: {cause}", DLP_FIX))
        return None
    try:
        profiles = load_profiles(data or {})
    except ProfileError as exc:
        problems.extend(_dlp_problem(str(path), e) for e in exc.errors)
        return None
    default = config.dlp.default_profile
    if default is not None and default not in profiles:
        problems.append(
            Problem(
                source,
                "dlp.default_profile",
                f"{default!r} is not a profile in {path}",
                f"name one of: {', '.join(sorted(profiles)) or '(the file has none)'}",
            )
        )
    return profiles


def _dlp_problem(file: str, error: str) -> Problem:
    key, sep, cause = error.partition(": ")
    return Problem(file, key, cause, DLP_FIX) if sep else Problem(file, "", error, DLP_FIX)


def _policy(
    config: Config, source: str, profiles: set[str] | None, problems: list[Problem]
) -> None:
    if config.policy is None:
        return
    from warden.policy import PolicyError, load_policy

    path = config.policy.file
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(
            Problem(
                source,
                "policy.file",
                f"cannot read the policy file {path}: {cause}",
                "write the policy there or correct the path (relative to the config)",
            )
        )
        return
    try:
        load_policy(
            text,
            known_tenants={t.id for t in config.identity.tenants},
            # Unknown profile names are only reported when the profiles themselves loaded.
            known_dlp_profiles=profiles,
        )
    except PolicyError as exc:
        problems.extend(
            Problem(str(path), issue.path or "(document)", issue.message, POLICY_FIX)
            for issue in exc.issues
        )
