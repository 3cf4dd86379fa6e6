"""Coaching acknowledgements made on the portal (control plane) reach the proxy workers."""

from __future__ import annotations

import time
from pathlib import Path

from warden.gateway.state import store
from warden.gateway.wiring.coach_feed import CoachFeed
from warden.policy import CoachAcknowledgements, PolicyDecision, PrincipalFacts

ALICE = PrincipalFacts("acme", "u-alice")
COACH = PolicyDecision(
    action="coach",
    rule_id="coach-pii",
    policy_version="v1",
    reason="",
    coach_message="Do not paste customer data.",
    coach_period_s=3600,
)


def test_an_acknowledgement_reaches_another_process_and_a_restarted_one(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store.open_state(db).close()  # the gateway's start: every domain's tables migrated
    portal_acks, worker_acks = CoachAcknowledgements(), CoachAcknowledgements()
    portal, worker = CoachFeed.on_file(db, portal_acks), CoachFeed.on_file(db, worker_acks)
    now = 1_000_000.0
    until = portal_acks.acknowledge(ALICE, COACH, now)
    assert until is not None
    portal.publish(ALICE, COACH, until, now)
    assert not worker_acks.is_acknowledged(ALICE, COACH, now + 1)
    assert worker.catch_up(now + 1) == 1
    assert worker_acks.is_acknowledged(ALICE, COACH, now + 1)
    assert worker.catch_up(now + 2) == 0  # each row is taken once
    # it ends when it ends on the portal, not a period after the worker saw it
    assert not worker_acks.is_acknowledged(ALICE, COACH, until + 1)
    # another person, another rule or message: not acknowledged
    assert not worker_acks.is_acknowledged(PrincipalFacts("acme", "u-bob"), COACH, now + 1)
    # a worker that starts again takes what is still in force
    fresh = CoachAcknowledgements()
    assert CoachFeed.on_file(db, fresh).catch_up(now + 10) == 1
    assert fresh.is_acknowledged(ALICE, COACH, now + 10)
    late = CoachAcknowledgements()
    assert CoachFeed.on_file(db, late).catch_up(until + 1) == 0  # expired rows are not taken


def test_anonymous_acknowledgements_are_not_shared(tmp_path: Path) -> None:
    store.open_state(tmp_path / "state.db").close()
    feed = CoachFeed.on_file(tmp_path / "state.db", CoachAcknowledgements())
    feed.publish(PrincipalFacts("acme", None), COACH, 2e6, 1e6)
    other = CoachAcknowledgements()
    assert CoachFeed.on_file(tmp_path / "state.db", other).catch_up(1e6) == 0


def test_a_worker_looks_once_before_it_coaches_again(tmp_path: Path) -> None:
    """With the control plane in its own process (the default), the request right after an
    acknowledgement must not wait for the worker's next periodic look (200 ms)."""
    db = tmp_path / "state.db"
    store.open_state(db).close()
    portal_acks, worker_acks = CoachAcknowledgements(), CoachAcknowledgements()
    portal, worker = CoachFeed.on_file(db, portal_acks), CoachFeed.on_file(db, worker_acks)
    looks: list[float] = []

    def missed(now: float) -> bool:
        looks.append(now)
        return worker.catch_up(now) > 0

    worker_acks.missed = missed
    now = 1_000_000.0
    assert not worker_acks.is_acknowledged(ALICE, COACH, now)  # nothing yet: looked, coach
    until = portal_acks.acknowledge(ALICE, COACH, now)
    assert until is not None
    portal.publish(ALICE, COACH, until, now)
    assert worker_acks.is_acknowledged(ALICE, COACH, now + 0.01)  # no periodic look between
    assert len(looks) == 2
    assert worker_acks.is_acknowledged(ALICE, COACH, now + 1) and len(looks) == 2  # in memory


def test_an_acknowledgement_on_one_instance_counts_on_another_on_postgresql(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Two instances of a fleet on one real PostgreSQL: A's portal records the
    acknowledgement, B's proxy takes it in from the notification of A's commit (its
    listener thread), never by a look on the request path."""
    import threading
    import time

    from warden.config import parse_config
    from warden.gateway.state.postgres import DSN_ENV

    config = parse_config({"state": {"backend": "postgresql"}}, "test", tmp_path, {})
    env = {DSN_ENV: postgres_dsn}
    store.migrate_state(config, env)
    a_db, b_db = store.open_database(config, env), store.open_database(config, env)
    a_acks, b_acks = CoachAcknowledgements(), CoachAcknowledgements()
    a_feed = CoachFeed(a_db.conn, a_acks, every_row=True)
    b_feed = CoachFeed(b_db.conn, b_acks, every_row=True)
    took = threading.Event()

    def take_in() -> None:
        b_feed.take_in()
        if b_acks.is_acknowledged(ALICE, COACH, time.time()):
            took.set()

    listener = b_db.watch([(("coach_acknowledgements",), take_in)])
    try:
        now = time.time()
        assert not b_acks.is_acknowledged(ALICE, COACH, now)
        until = a_acks.acknowledge(ALICE, COACH, now)
        assert until is not None
        a_feed.publish(ALICE, COACH, until, now)
        # generous for a loaded machine; a notification takes milliseconds
        assert took.wait(10), "B did not take A's acknowledgement in"
        assert not b_acks.is_acknowledged(PrincipalFacts("acme", "u-bob"), COACH, time.time())
        # a process that starts later reads what is still in force
        fresh = CoachAcknowledgements()
        assert CoachFeed(b_db.conn, fresh, every_row=True).catch_up(time.time()) == 1
        assert fresh.is_acknowledged(ALICE, COACH, time.time())
    finally:
        listener.stop()
        a_db.close()
        b_db.close()


async def _acknowledge(tmp_path: Path, feed_db: Path | None) -> tuple[int, str, list[str]]:
    """POST the portal's acknowledgement form of a real link to a real ``PolicyRuntime``
    whose feed writes to ``feed_db`` (``None``: to a connection that is already closed,
    as a database that stopped answering leaves it)."""
    import sqlite3

    import yaml
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from warden.gateway.wiring.policy import PolicyRuntime

    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"defaults": {"default_action": "allow"}}))
    events: list[str] = []
    runtime = PolicyRuntime(
        policy, store.open_state(tmp_path / "quota.db"), {"acme"}, None,
        lambda event, *args, **kwargs: events.append(event), "http://portal.test",
        lambda host: True,
    )  # fmt: skip
    if feed_db is None:
        gone = sqlite3.connect(":memory:")
        gone.close()
        runtime.feed = CoachFeed(gone, runtime.acks)
    else:
        runtime.feed = CoachFeed.on_file(feed_db, runtime.acks)
    token = runtime.coach_tokens.make(ALICE, COACH, "/portal/", time.time())
    app = web.Application()
    app.add_routes(runtime.routes())
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/portal/coach", data={"token": token}, allow_redirects=False)
        return answer.status, await answer.text(), events


async def test_an_acknowledgement_that_cannot_be_shared_is_answered_503(tmp_path: Path) -> None:
    """The processes that decide requests never learn of it, so the person would be coached
    again and again: the portal says it could not record it, and the trail says so too."""
    status, text, events = await _acknowledge(tmp_path, None)
    assert status == 503 and "could not record your acknowledgement" in text
    assert events == ["coach.acknowledge_failed"]
    # control: the same form with a database that answers is taken and shared
    db = tmp_path / "state.db"
    store.open_state(db).close()
    status, _text, events = await _acknowledge(tmp_path, db)
    assert status == 302 and events == ["coach.acknowledged"]
    worker = CoachAcknowledgements()
    assert CoachFeed.on_file(db, worker).catch_up(time.time()) == 1
