"""The bounds every PostgreSQL connection gets (warden/pgbounds.py), as connection strings.

What they do against a real frozen server is in tests/warden/test_state_postgres.py and
the fleet's e2e tests; here: what the DSN says wins, and nothing of it is dropped."""

from __future__ import annotations

import psycopg

from warden.pgbounds import CONNECT_TIMEOUT_S, bounded_conninfo


def _parts(dsn: str) -> dict[str, str]:
    return {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}


def test_every_bound_is_added_to_a_bare_dsn() -> None:
    parts = _parts(bounded_conninfo("postgresql://warden:secret@db.example:5432/warden"))
    assert parts["connect_timeout"] == str(CONNECT_TIMEOUT_S)
    assert parts["keepalives"] == "1" and parts["tcp_user_timeout"] == "10000"
    assert parts["options"] == "-c statement_timeout=5000"
    assert parts["password"] == "secret" and parts["dbname"] == "warden"  # nothing lost


def test_what_the_dsn_sets_is_kept() -> None:
    dsn = "host=db connect_timeout=20 keepalives_idle=60 options='-c search_path=warden'"
    parts = _parts(bounded_conninfo(dsn, statement_timeout_s=8))
    assert parts["connect_timeout"] == "20" and parts["keepalives_idle"] == "60"
    assert parts["options"] == "-c search_path=warden -c statement_timeout=8000"
    own = _parts(bounded_conninfo("host=db options='-c statement_timeout=100'"))
    assert own["options"] == "-c statement_timeout=100"  # the operator's, not ours


def test_no_statement_timeout_for_migrations() -> None:
    assert "options" not in _parts(bounded_conninfo("host=db", statement_timeout_s=None))
