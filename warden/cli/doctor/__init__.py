"""``warden doctor``: checks a gateway's set-up; a pass/fail list, each failure with its fix.

What it checks, in order (a check that needs the config is skipped when it does not load):

- the config file loads (every problem listed), and what it switches off (identity off,
  the test-only routing block);
- the interception CA: files present and readable, the key file 0600, not expired (a
  warning within 30 days), name-constrained (a warning if not) and covering the catalog;
  the other secret files (audit signing key, admin token, state database) 0600;
- the proxy and control-plane ports: free, or held by a running gateway (its ``/healthz``
  answers), else which port is taken and how to change it;
- each identity provider: its client secret is in the environment, OIDC discovery is
  reachable and names the configured issuer, the JWKS parses and has a key for the
  configured algorithms, and the clock agrees with the IdP's HTTP ``Date`` (more than
  30 s apart fails: tokens would be refused as not yet valid or expired);
- the syslog collector: TCP and TLS connect (TLS verified against ``ca_file``); UDP has no
  handshake, so a test message is sent and the collector's side has to be looked at;
- the state database on PostgreSQL: reachable with ``WARDEN_STATE_DSN``, its schema current
  for this build (neither steps pending nor written by a newer warden);
- the fleet (``proxy.instances``): each instance answers as a warden; on PostgreSQL, the
  audit records reach the central copy (a stopped or failing shipper, with its cause);
- free disk space where the state, audit database and spool live (a warning under
  1 GiB, a failure under 100 MiB) and the state folder's mode (0700).

`run_checks` never raises for a broken set-up: every problem is a `CheckResult`. It reads
the environment and the time only through its ``env`` and ``clock`` arguments, so tests can
drive both. Network checks use short timeouts; the whole run takes a few seconds even when
every peer is down. Nothing is written, except the one UDP test message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from warden.config.validation import validate_all

from .ca import ca_checks, secret_file_checks
from .config import catalog_domains, config_checks, config_failure
from .database import database_checks
from .disk import disk_checks, state_dir_checks
from .fleet import instance_checks, shipping_checks
from .idp import idp_checks
from .ports import port_checks
from .report import exit_code, render, render_json
from .results import NETWORK_TIMEOUT_S, CheckResult, Clock, utc_now
from .syslog import syslog_checks

__all__ = [
    "CheckResult",
    "exit_code",
    "render",
    "render_json",
    "run",
    "run_checks",
]


def run_checks(
    config_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock = utc_now,
    timeout: float = NETWORK_TIMEOUT_S,
) -> list[CheckResult]:
    """Every check for the gateway configured by ``config_path``; see the module docstring."""
    environ = dict(os.environ) if env is None else dict(env)
    results: list[CheckResult] = []
    checked = validate_all(config_path, environ)
    config = checked.config
    if config is None:
        results.append(config_failure(config_path, checked.problems, "The other checks need"))
        return results
    if checked.problems:
        results.append(config_failure(config_path, checked.problems, "The gateway needs"))
    results.extend(config_checks(config, config_path, clean=not checked.problems))
    domains = catalog_domains(config, checked.catalog)
    results.extend(ca_checks(config, clock, domains))
    results.extend(secret_file_checks(config))
    results.extend(port_checks(config, timeout))
    results.extend(database_checks(config, environ))
    results.extend(instance_checks(config, timeout))
    results.extend(shipping_checks(config, clock))
    for idp in config.identity.identity_providers:
        results.extend(idp_checks(idp, environ, clock, timeout))
    results.extend(syslog_checks(config, clock, timeout))
    results.extend(disk_checks(config))
    results.extend(state_dir_checks(config))
    return results


def run(
    config_path: Path, *, out: TextIO, as_json: bool = False, colour: bool | None = None
) -> int:
    """What ``warden doctor`` does: check, print, return the exit code."""
    results = run_checks(config_path)
    if as_json:
        out.write(render_json(results) + "\n")
    else:
        use_colour = out.isatty() and "NO_COLOR" not in os.environ if colour is None else colour
        out.write(render(results, colour=use_colour))
    return exit_code(results)
