"""warden/gateway/wiring/policy_fleet.py: two instances' policy runtimes on one real PostgreSQL.

Each "instance" has its own policy file, its own pool and its own LISTEN connection, as
two hosts would; the tests wait on the listeners' callbacks, never on time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from warden.config import parse_config
from warden.gateway.metrics import GatewayMetrics
from warden.gateway.state.postgres import DSN_ENV
from warden.gateway.state.store import StateDatabase, migrate_state, open_database
from warden.gateway.wiring.policy import PolicyRuntime
from warden.gateway.wiring.policy_fleet import TABLES, FleetPolicy
from warden.policy.published import PublishedPolicies, document_sha256

BASE: dict[str, Any] = {"defaults": {"default_action": "allow"}, "tenants": {"acme": {}}}


def _policy(model: str) -> dict[str, Any]:
    """A policy that blocks ``model`` for acme (versions differ by the model)."""
    rule = {"id": "no-" + model, "match": {"model": model}, "action": "block", "reason": "no"}
    return {**BASE, "tenants": {"acme": {"rules": [rule]}}}


@dataclass
class Instance:
    runtime: PolicyRuntime
    fleet: FleetPolicy
    database: StateDatabase
    metrics: GatewayMetrics
    audits: list[dict[str, Any]] = field(default_factory=list)
    followed: threading.Condition = field(default_factory=threading.Condition)
    listener: Any = None

    @property
    def version(self) -> str:
        return self.runtime.version

    def wait_for_serial(self, serial: int) -> None:
        """Until this instance looked at publication ``serial`` (taken or refused)."""
        with self.followed:
            assert self.followed.wait_for(lambda: self.fleet.serial >= serial, timeout=30)

    def refused(self) -> float:
        return self.metrics.registry.get_sample_value("warden_policy_fleet_refused_total") or 0.0

    def in_step(self) -> float | None:
        return self.metrics.registry.get_sample_value("warden_policy_fleet_in_step")


@pytest.fixture
def start(postgres_dsn: str, tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], Instance]]:
    env = {DSN_ENV: postgres_dsn}
    config = parse_config({"state": {"backend": "postgresql"}}, "test", tmp_path, {})
    migrate_state(config, env)
    started: list[Instance] = []

    def one(name: str, policy: dict[str, Any]) -> Instance:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(policy))
        database = open_database(config, env)
        audits: list[dict[str, Any]] = []
        runtime = PolicyRuntime(
            path,
            database.connect(),
            {"acme"},
            None,
            lambda event, tenant, details, *_, **__: audits.append({"event": event, **details}),
            "http://portal.test",
            lambda host: True,
            shared_quotas=True,
        )
        metrics = GatewayMetrics()
        fleet = FleetPolicy(
            runtime,
            PublishedPolicies(database.connect()),
            f"{name}:9000",
            publisher=True,
            metrics=metrics,
        )
        inst = Instance(runtime, fleet, database, metrics, audits)

        def follow() -> None:
            fleet.follow()
            with inst.followed:
                inst.followed.notify_all()

        inst.listener = database.watch([(TABLES, follow)])  # returns after the first follow
        started.append(inst)
        return inst

    yield one
    for inst in started:
        inst.listener.stop()
        inst.runtime.watcher.stop()
        inst.database.close()


def _insert(dsn: str, version: str, sha: str, document: str) -> int:
    """A row written around warden (a damaged or hostile publisher); its serial."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO policy_published (version, document_sha256, document, published_at,"
            " published_by) VALUES (%s, %s, %s, 0, 'psql') RETURNING serial",
            (version, sha, document),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_instance_starting_takes_the_version_in_force(
    start: Callable[[str, dict[str, Any]], Instance],
) -> None:
    a = start("a", _policy("gpt-4.1"))
    latest = a.fleet.store.latest()  # the first instance published its file
    assert latest is not None and latest.version == a.version and latest.published_by == "a:9000"
    b = start("b", _policy("o3"))  # an older file on another host
    assert b.version == a.version
    assert b.in_step() == 1
    assert [r for r in b.audits if r.get("source") == "fleet"][-1]["ok"] is True
    latest = b.fleet.store.latest()
    assert latest is not None and latest.published_by == "a:9000"  # B published nothing


def test_a_reload_on_one_instance_reaches_the_other_and_a_stale_file_publishes_nothing(
    start: Callable[[str, dict[str, Any]], Instance],
) -> None:
    a = start("a", _policy("gpt-4.1"))
    b = start("b", _policy("gpt-4.1"))
    first = b.version
    a.runtime.path.write_text(yaml.safe_dump(_policy("o3")))
    a.fleet.reload_file(a.runtime.path)  # what SIGHUP runs (on a thread)
    b.wait_for_serial(a.fleet.serial)
    assert b.version == a.version != first
    taken = [r for r in b.audits if r.get("source") == "fleet"][-1]
    assert taken["ok"] is True and taken["version"] == a.version
    assert taken["published_by"] == "a:9000"
    # SIGHUP on B, whose file still holds the old policy: the fleet keeps A's version
    b.fleet.reload_file(b.runtime.path)
    assert a.version == b.version == b.runtime.holder.get().version
    latest = a.fleet.store.latest()
    assert latest is not None and latest.published_by == "a:9000" and latest.version == a.version


@pytest.mark.parametrize(
    ("make_row", "why"),
    [
        # altered in the database: the hash no longer matches
        (lambda doc, v: (v, document_sha256(doc), doc.replace("o3", "o4")), "sha256"),
        # a document this instance cannot validate (a tenant it does not know)
        (
            lambda doc, v: (
                v,
                document_sha256(t := yaml.safe_dump({**BASE, "tenants": {"initech": {}}})),
                t,
            ),
            "initech",
        ),
        # read here as another version than its publisher's (another release)
        (lambda doc, v: ("sha256:0000000000000000", document_sha256(doc), doc), "reads the"),
    ],
    ids=["altered", "invalid-here", "other-version"],
)
def test_a_version_an_instance_cannot_validate_is_refused_and_the_old_one_stays(
    start: Callable[[str, dict[str, Any]], Instance],
    postgres_dsn: str,
    make_row: Callable[[str, str], tuple[str, str, str]],
    why: str,
) -> None:
    b = start("b", _policy("gpt-4.1"))
    in_force = b.version
    serial = _insert(
        postgres_dsn, *make_row(yaml.safe_dump(_policy("o3")), "sha256:1111111111111111")
    )
    b.wait_for_serial(serial)
    assert b.version == in_force
    assert b.refused() == 1 and b.in_step() == 0
    refusal = [r for r in b.audits if r.get("source") == "fleet"][-1]
    assert refusal["ok"] is False and why in refusal["errors"]
    # the next good version is taken again
    b.runtime.path.write_text(yaml.safe_dump(_policy("o4-mini")))
    b.fleet.reload_file(b.runtime.path)
    assert b.version != in_force and b.in_step() == 1
