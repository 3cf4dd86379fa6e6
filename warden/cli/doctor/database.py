"""The state database (``state.backend: postgresql``): reachable with the gateway's DSN, and
its schema current for this build.

On the embedded SQLite default there is nothing to reach (the file's mode and disk space
are the disk checks'). On PostgreSQL an instance refuses to start on a schema with steps
pending or newer than it knows, and a fleet shares the database: so the doctor connects
with ``WARDEN_STATE_DSN`` from its own environment (run it with the gateway's), reads each
domain's version and the round trip, and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from warden.config import Config
from warden.gateway.state import StateError, store
from warden.gateway.state.postgres import DSN_ENV

from .results import CheckResult, passed, warning

NAME = "state database"
#: A round trip above this (connect, read the migration ledger) is worth a look: every
#: sign-in, revocation and SCIM write pays one.
SLOW_S = 0.5


def database_checks(config: Config, env: Mapping[str, str]) -> Iterator[CheckResult]:
    if config.state.backend != "postgresql":
        return
    started = time.monotonic()
    try:
        where, states = store.describe_state(config, env)
    except StateError as exc:
        yield CheckResult(NAME, False, exc.message, exc.fix)
        return
    except Exception as exc:  # psycopg's own errors (a bad DSN, a refused login)
        yield CheckResult(
            NAME,
            False,
            f"cannot read the state database: {type(exc).__name__}: {str(exc)[:200]}",
            f"check {DSN_ENV} in the gateway's environment and that PostgreSQL accepts this "
            f'user (`psql "${DSN_ENV}" -c "select 1"`)',
        )
        return
    took = time.monotonic() - started
    too_new = [s.name for s in states if s.too_new]  # a domain it does not know too
    pending = [f"{s.name} ({s.pending})" for s in states if s.pending]
    if too_new:
        yield CheckResult(
            NAME,
            False,
            f"{where}: written by a newer warden ({', '.join(too_new)}); this build refuses it",
            "upgrade this instance to the fleet's release (`warden db status` lists the versions)",
        )
    elif pending:
        yield CheckResult(
            NAME,
            False,
            f"{where}: schema steps pending: {', '.join(pending)}; instances refuse to start",
            "run `warden db migrate` once, from one host, with the gateway's "
            f"{DSN_ENV}, then start the instances",
        )
    elif took > SLOW_S:
        yield warning(
            NAME,
            f"{where}: schema current, but connecting and reading took {took * 1000:.0f} ms",
            "sign-ins, revocations and SCIM writes each wait for a round trip: put the "
            "database near the gateways, or look at its load",
        )
    else:
        yield passed(NAME, f"{where}: schema current ({len(states)} domains), {took * 1000:.0f} ms")
