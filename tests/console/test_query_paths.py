"""The indexed query paths against a straightforward reading, and hostile filter values.

Differential: a seeded store of 1,500 records (four tenants, findings, prompts holding
quotes, FTS5 syntax and non-ASCII text, auth and admin events) is read through
`FlowQuery` for many filters, sort orders, both directions and two scopes, page by
page with the keyset cursor, with `INDEX_LIMIT` lowered so that both the materialized and
the in-order plans run, and with the newest records missing from the trigram index (the
writer indexes text between batches). The expected rows come from Python alone: every
body parsed, the filter's meaning applied to it, sorted by (key, seq). No SQL of the
console is shared with the reference.
"""

from __future__ import annotations

import datetime
import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit.older_store import strip_review_indexes
from warden.audit import (
    AuditLog,
    AuditRecord,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Timing,
    Usage,
    format_ts,
)
from warden.audit.record import Request
from warden.audit.review_index import UNSEARCHED_KEYS, review_state
from warden.console import flows
from warden.console.db import open_readonly
from warden.console.flows import (
    SORT_KEYS,
    FilterError,
    FlowFilter,
    FlowQuery,
    FlowWindow,
    Sort,
)
from warden.console.scope import ReviewerScope

from .conftest import MakeApp
from .test_flows import flows as flows_screen

START = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)
TOTAL = 800
ACTIONS = {"allowed": "allow", "redacted": "redact", "blocked": "block", "coached": "coach"}
TENANTS = ("acme", "acme", "acme", "globex", "globex", "initech", "umbrella")
#: Text planted in prompts: quoting, LIKE wildcards, FTS5 syntax, SQL, non-ASCII.
HOSTILE = (
    'say "hello" to O\'Brien',
    "100% of the_budget",
    r"C:\temp\new",
    'NEAR("a" "b") AND x* OR -y ^z col:val',
    "'); DROP TABLE records; --",
    "Zürich café ÉCOLE 東京",
    "emoji 🙂 mix",
)


def make_record(n: int, rng: random.Random) -> AuditRecord:
    tenant = rng.choice(TENANTS)
    user = rng.randrange(12)
    principal = Principal(
        issuer=f"https://idp.{tenant}.example",
        subject=f"{tenant[:2]}-{user}",
        email=f"person{user}@{tenant}.example",
        department=("legal", "sales", "research")[user % 3],
        groups=("staff",),
        auth_method="oidc",
        session_id=f"{n:016x}",
        client_addr=f"10.0.0.{user}",
    )
    moment = format_ts(START + datetime.timedelta(minutes=n + rng.randrange(3)))
    if rng.random() < 0.05:
        return AuditRecord(
            record_id=f"{n + 1:032x}", ts=moment, kind="admin", tenant=tenant, outcome="ok",
            event=rng.choice(("revoke_session", "policy_reload")), principal=principal,
        )  # fmt: skip
    outcome = rng.choice(("allowed", "allowed", "redacted", "blocked", "coached"))
    findings = tuple(
        DlpFinding(kind, 1, "messages[0].content")
        for kind in sorted({rng.choice(("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE"))
                            for _ in range(rng.randrange(3))})
    ) if outcome in ("redacted", "blocked") else ()  # fmt: skip
    prompt = None
    if rng.random() < 0.3:
        prompt = f"Note {n}: {rng.choice(HOSTILE)} and {rng.choice(('invoice', 'contract'))}"
    provider, model = rng.choice((("openai", "gpt-4o"), ("openai", "o3"), ("anthropic", "claude")))
    request = None
    if n % 7:  # older records have no request part
        get = rng.random() < 0.1
        request = Request(
            method="GET" if get else "POST",
            path=rng.choice(("/v1/models", "/v1/modelsx")) if get else f"/v1/{provider}/chat",
            transport="websocket" if rng.random() < 0.15 else "http",
            client=rng.choice(("openai-python/1.54", "openai-node/4.7", "curl/8.5", "Zürich/1")),
            conversation=f"conv-{user}-{n // 40}" if rng.random() < 0.5 else None,
        )
    return AuditRecord(
        record_id=f"{n + 1:032x}",
        ts=moment,
        kind="flow",
        tenant=tenant,
        outcome=outcome,
        status=200,
        principal=principal,
        destination=Destination(provider, f"{provider}-api", "api.example", "api", "chat", model),
        decision=Decision(ACTIONS[outcome], f"rule-{outcome}", "v1"),
        findings=findings,
        usage=Usage(tokens_in=rng.randrange(50), tokens_out=rng.randrange(20)) if n % 9 else None,
        timing=Timing(moment, 10, 5, rng.randrange(40)) if n % 11 else None,
        prompt=prompt,
        request=request,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("paths") / "audit.db"
    rng = random.Random(7)
    log = AuditLog.open(path)
    try:
        for first in range(0, TOTAL, 100):
            log.append([make_record(n, rng) for n in range(first, first + 100)])
            if first < TOTAL - 200:  # the newest 200 are not in the trigram index yet
                while log.index_text(100):
                    pass
    finally:
        log.close()
    return path


# -- the reference: Python over parsed bodies ----------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _texts(value: Any, key: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if key not in UNSEARCHED_KEYS:
            yield value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _texts(item, name, f"{path}.{name}")
    elif isinstance(value, list) and path != "$.principal.groups":
        for i, item in enumerate(value):
            yield from _texts(item, i, path)


def _matches(flt: FlowFilter, row: dict[str, Any], scope: ReviewerScope) -> bool:
    data = row["data"]
    principal = data.get("principal") or {}
    destination = data.get("destination") or {}
    decision = data.get("decision") or {}
    checks = {
        "tenant": data["tenant"],
        "department": principal.get("department") or "",
        "decision": decision.get("action") or "",
        "outcome": data["outcome"],
        "provider": destination.get("provider") or "",
        "model": destination.get("model") or "",
        "kind": data["kind"],
    }
    if not scope.allows(data["tenant"]):
        return False
    for name, actual in checks.items():
        wanted = getattr(flt, name)
        if wanted is not None and wanted != actual:
            return False
    if flt.user is not None:
        field = "email" if "@" in flt.user else "subject"
        if principal.get(field) != flt.user:
            return False
    if flt.entity_type is not None and flt.entity_type not in {
        f["entity_type"] for f in data.get("findings") or ()
    }:
        return False
    if flt.since is not None and data["ts"] < flt.since:
        return False
    if flt.until is not None and data["ts"] >= flt.until:
        return False
    request = data.get("request") or {}
    for name in ("conversation", "transport", "method"):
        wanted = getattr(flt, name)
        if wanted is not None and request.get(name) != wanted:
            return False
    for name in ("client", "path"):
        wanted = getattr(flt, name)
        if wanted is not None and not str(request.get(name) or "\0").startswith(wanted):
            return False
    if flt.text:
        term = flt.text.translate(_ASCII_LOWER)
        if not any(term in t.translate(_ASCII_LOWER) for t in _texts(data, None, "$")):
            return False
    return True


def _key(sort: str, data: dict[str, Any], seq: int) -> Any:
    principal = data.get("principal") or {}
    usage = data.get("usage") or {}
    timing = data.get("timing") or {}
    return {
        "time": None,
        "tenant": data["tenant"],
        "user": principal.get("subject") or "",
        "department": principal.get("department") or "",
        "provider": (data.get("destination") or {}).get("provider") or "",
        "model": (data.get("destination") or {}).get("model") or "",
        "decision": (data.get("decision") or {}).get("action") or "",
        "outcome": data["outcome"],
        "tokens": (usage.get("tokens_in") or 0) + (usage.get("tokens_out") or 0),
        "latency": timing.get("total_ms", -1),
    }[sort]


def reference(chosen: list[dict[str, Any]], sort: Sort) -> list[int]:
    """The seqs of ``chosen`` in ``sort`` order."""
    if sort.key == "time":
        ordered = sorted(chosen, key=lambda r: r["seq"])
    else:
        ordered = sorted(chosen, key=lambda r: (_key(sort.key, r["data"], r["seq"]), r["seq"]))
    seqs = [r["seq"] for r in ordered]
    return seqs[::-1] if sort.descending else seqs


def read_all(query: FlowQuery, flt: FlowFilter, sort: Sort) -> list[int]:
    window = FlowWindow(query, max_rows=10**6)
    window.reset(flt, sort)
    while window.more_after:
        window.load_after()
    return [row.seq for row in window.rows]


@pytest.fixture(scope="module")
def bodies(store: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(store)
    rows = [
        {"seq": s, "data": json.loads(b)} for s, b in conn.execute("SELECT seq, body FROM records")
    ]
    conn.close()
    return rows


FILTERS = (
    FlowFilter(),
    FlowFilter(tenant="globex"),
    FlowFilter(user="ac-3"),
    FlowFilter(user="person5@globex.example"),
    FlowFilter(department="legal"),
    FlowFilter(decision="block"),
    FlowFilter(outcome="coached", department="sales"),
    FlowFilter(provider="anthropic"),
    FlowFilter(model="o3", tenant="acme"),
    FlowFilter(kind="admin"),
    FlowFilter(entity_type="IBAN_CODE"),
    FlowFilter(entity_type="CREDIT_CARD", decision="redact"),
    FlowFilter(since="2025-03-01T10:00:00.000Z", until="2025-03-01T16:00:00.000Z"),
    FlowFilter(text="invoice"),
    FlowFilter(text="INVOICE", department="research"),
    FlowFilter(text="Note 1"),
    FlowFilter(text="e 1"),
    FlowFilter(text="zz"),
    FlowFilter(text="person1"),
    *(FlowFilter(text=t) for t in HOSTILE),
    FlowFilter(text='"'),
    FlowFilter(text="%"),
    FlowFilter(text="_"),
    FlowFilter(text="\\"),
    FlowFilter(text="Zürich"),
    FlowFilter(text="café écol"),
    FlowFilter(text="staff"),  # a group: not searched
    FlowFilter(text="rule-"),
    FlowFilter(user="x' OR '1'='1"),
    # rare combinations of dense filters: their indexes intersected
    FlowFilter(outcome="coached", department="sales", model="o3"),
    FlowFilter(decision="block", provider="anthropic", entity_type="EMAIL_ADDRESS"),
    FlowFilter(outcome="allowed", model="gpt-4o", transport="websocket"),
    # the request part: exact, prefix, a term's common value (not indexed)
    FlowFilter(conversation="conv-3-4"),
    FlowFilter(conversation="conv-3-4", tenant="acme"),
    FlowFilter(transport="websocket"),
    FlowFilter(transport="http", outcome="blocked"),
    FlowFilter(method="GET"),
    FlowFilter(method="POST", client="curl"),
    FlowFilter(client="openai-"),
    FlowFilter(client="Zür"),
    FlowFilter(client="openai-python/1.54"),
    FlowFilter(path="/v1/models"),
    FlowFilter(path="/v1/modelsx"),
    FlowFilter(path="/v1/anthropic/", department="legal"),
    FlowFilter(path="/v2"),
    FlowFilter(entity_type='") OR 1=1 --'),
)
SCOPES = (ReviewerScope.administrator(), ReviewerScope.limited("r", ["globex", "umbrella"]))


@pytest.mark.parametrize("limit", [40, 100_000], ids=["small-index-limit", "default"])
@pytest.mark.parametrize("scope", SCOPES, ids=["admin", "limited"])
def test_every_path_returns_the_reference_rows(
    store: Path,
    bodies: list[dict[str, Any]],
    scope: ReviewerScope,
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flows, "INDEX_LIMIT", limit)
    # with the small limit, matches of 12 to 39 walk the sort index as members
    monkeypatch.setattr(flows, "SORTED_MEMBERS_MIN", 12 if limit < 100 else 10**9)
    query = FlowQuery(open_readonly(store, "audit"), scope, page_size=29, scan_budget_s=30.0)
    checked = 0
    for i, flt in enumerate(FILTERS):
        chosen = [r for r in bodies if _matches(flt, r, scope)]
        # The time order and three other keys per filter (rotating), both directions.
        keys = ("time", *(SORT_KEYS[1 + (i + j * 3) % (len(SORT_KEYS) - 1)] for j in range(3)))
        for key in keys:
            for descending in (True, False):
                sort = Sort(key, descending)
                expected = reference(chosen, sort)
                assert read_all(query, flt, sort) == expected, (flt, sort)
                checked += bool(expected)
    assert checked > len(FILTERS) * 5  # most views are not empty


def test_pages_cut_short_by_the_budget_add_up_to_the_reference(
    store: Path, bodies: list[dict[str, Any]]
) -> None:
    admin = ReviewerScope.administrator()
    query = FlowQuery(open_readonly(store, "audit"), admin, page_size=17, scan_budget_s=0.0)
    for flt, sort in (
        (FlowFilter(text="zz"), Sort()),
        (FlowFilter(text="e 1"), Sort("user", False)),
        (FlowFilter(kind="admin"), Sort("tokens")),
    ):
        cursor, seqs = None, []
        while True:
            page = query.fetch(flt, sort, cursor)
            seqs += [r.seq for r in page.rows]
            cursor = page.cursor
            if not page.more:
                break
        chosen = [r for r in bodies if _matches(flt, r, admin)]
        assert seqs == reference(chosen, sort), (flt, sort)


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (FlowFilter(text="x" * 257), "at most 256"),
        (FlowFilter(text="a" * 100_000), "100,000 characters"),
        (FlowFilter(user="u" * 300), "user filter"),
        (FlowFilter(text="line\nbreak"), "control character"),
        (FlowFilter(entity_type="A\x00B"), "control character"),
    ],
)
def test_hostile_values_are_refused_with_a_clear_error(
    store: Path, flt: FlowFilter, message: str
) -> None:
    query = FlowQuery(open_readonly(store, "audit"), ReviewerScope.administrator())
    with pytest.raises(FilterError, match=message):
        query.fetch(flt, Sort(), None)


def test_hostile_search_leaves_the_store_intact(store: Path) -> None:
    conn = open_readonly(store, "audit")
    query = FlowQuery(conn, ReviewerScope.administrator())
    for text in ("'); DROP TABLE records; --", 'x" OR rowid > 0 OR "', "*", "NEAR(a b)"):
        query.fetch(FlowFilter(text=text), Sort(), None)
    (count,) = conn.execute("SELECT count(*) FROM records").fetchone()
    assert count == TOTAL


def test_sort_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(FilterError, match="cannot sort by"):
        Sort("body")


async def test_a_huge_search_term_shows_an_error_and_keeps_the_view(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows_screen(app)
        before = [r.seq for r in screen.window.rows]
        await pilot.press("slash")
        screen.query_one("#search").value = "q" * 5_000  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert screen.window.filter == FlowFilter()
        assert [r.seq for r in screen.window.rows] == before
        assert any("at most 256" in str(n.message) for n in app._notifications)


@pytest.mark.parametrize(
    ("flt", "driver"),
    [
        # rare combinations: the sparsest index drives in seq order, the others probed
        (FlowFilter(outcome="coached", department="sales", model="o3"), "∩"),
        (FlowFilter(decision="block", provider="anthropic", entity_type="EMAIL_ADDRESS"), "∩"),
        # a prefix with few values: one ordered read per value, merged
        (FlowFilter(client="openai-"), "client index in order"),
        (FlowFilter(path="/v1/"), "path index in order"),
    ],
)
def test_intersections_and_prefixes_read_in_order(
    store: Path,
    bodies: list[dict[str, Any]],
    flt: FlowFilter,
    driver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flows, "INDEX_LIMIT", 40)
    admin = ReviewerScope.administrator()
    query = FlowQuery(open_readonly(store, "audit"), admin, page_size=7, scan_budget_s=30.0)
    plan = query.plan(flt, Sort())
    assert driver in plan.driver and plan.driver.endswith("in order"), plan.driver
    assert plan.candidates is None  # read lazily, page by page
    chosen = [r for r in bodies if _matches(flt, r, admin)]
    assert len(chosen) > 7  # more than a page
    for sort in (Sort(), Sort("time", False), Sort("model"), Sort("tokens", False)):
        assert read_all(query, flt, sort) == reference(chosen, sort), (flt, sort)


@pytest.fixture(scope="module")
def upgrading_store(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same records in a store written before the review indexes, which the writer
    has half brought up to date: four of the eight column indexes there, the entity
    types, sort values and request terms of the newest 300 records indexed, no text."""
    path = tmp_path_factory.mktemp("upgrading") / "audit.db"
    source = sqlite3.connect(store)
    target = sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.execute("PRAGMA journal_mode=DELETE")
    strip_review_indexes(target)  # as a store written before the review indexes
    target.commit()
    target.close()
    log = AuditLog.open(path)
    for _ in range(8 + 30):  # the eight column indexes, 30 steps of 10 records
        log.index_text(5)
    for name in ("model", "decision", "outcome", "kind"):  # as if not built yet
        log.connection.execute(f"DROP INDEX records_review_{name}")
    state = review_state(log.connection)
    assert len(state.indexes) == 4 and state.entities_below == TOTAL + 1 - 300
    log.close()
    return path


@pytest.mark.parametrize("scope", SCOPES, ids=["admin", "limited"])
def test_a_store_whose_indexes_are_still_being_built_reads_the_same_rows(
    upgrading_store: Path,
    bodies: list[dict[str, Any]],
    scope: ReviewerScope,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flows, "INDEX_LIMIT", 40)
    query = FlowQuery(open_readonly(upgrading_store, "audit"), scope, page_size=29)
    query.scan_budget_s = 30.0
    for i, flt in enumerate(FILTERS):
        chosen = [r for r in bodies if _matches(flt, r, scope)]
        for key in ("time", SORT_KEYS[1 + i % (len(SORT_KEYS) - 1)]):
            sort = Sort(key, i % 2 == 0)
            assert read_all(query, flt, sort) == reference(chosen, sort), (flt, sort)
