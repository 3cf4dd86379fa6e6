"""Review console benchmark: open time, filter changes and scrolling to the end over 1M records.

Run: ``.venv/bin/python bench/console.py [--records 1000000] [--regenerate]``.

The database is generated once and cached under ``/tmp/warden-console-bench/`` (the file,
its signing key's public half and a marker with the record count); later runs reuse it.
Generation goes through the real write path, `AuditLog.append`, in batches of 20,000
records (one transaction each): every record is validated, canonically encoded and
hash-chained exactly as the gateway does; only the syslog shipping and the per-flow
commit are left out. The records span the 30 days before generation, over four tenants
of different sizes, 400 users, six departments, three providers, the usual mix of
outcomes, DLP findings on the redacted ones and a redacted prompt on one in ten.

Two sets of figures are printed, in milliseconds (median of a few runs where cheap):

1. the query layer (`FlowQuery` / `FlowWindow`), i.e. what a filter change costs in SQL;
2. end to end through the headless app (`App.run_test`): from pressing the keys to the
   table showing the new rows, which adds Textual's layout and rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import (
    AuditLog,
    AuditRecord,
    CheckpointSigner,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Timing,
    Usage,
    export_public_key,
    format_ts,
)
from warden.console import ReviewerScope, build_app
from warden.console.db import open_readonly
from warden.console.flows import FlowFilter, FlowQuery, FlowWindow, Sort
from warden.console.flows_screen import FlowsScreen

CACHE = Path("/tmp/warden-console-bench")
TENANTS = ("acme",) * 4 + ("globex",) * 3 + ("initech",) * 2 + ("umbrella",)
DEPARTMENTS = ("research", "sales", "legal", "finance", "engineering", "support")
MODELS = (
    ("openai", "openai-api", "api.openai.com", "openai.chat", "gpt-4o"),
    ("openai", "openai-api", "api.openai.com", "openai.chat", "gpt-4o-mini"),
    ("anthropic", "anthropic-api", "api.anthropic.com", "anthropic.messages", "claude-sonnet-4"),
    ("google", "gemini-api", "generativelanguage.googleapis.com", "gemini", "gemini-2.5-pro"),
)
#: Outcome mix per 100 flows.
OUTCOMES = (
    ("allowed", 70),
    ("redacted", 18),
    ("blocked", 5),
    ("coached", 2),
    ("over_quota", 1),
    ("upstream_error", 3),
    ("client_abort", 1),
)
ACTIONS = {
    "allowed": "allow",
    "redacted": "redact",
    "blocked": "block",
    "coached": "coach",
    "over_quota": "allow",
    "upstream_error": "allow",
    "client_abort": "allow",
}
ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "PERSON", "CREDIT_CARD", "API_KEY")
_OUTCOME_TABLE = [name for name, weight in OUTCOMES for _ in range(weight)]


def bench_record(n: int, start: datetime.datetime, span_s: float, total: int) -> AuditRecord:
    """Record number ``n`` of ``total``, stamped evenly over ``span_s`` seconds from ``start``."""
    tenant = TENANTS[(n * 7) % len(TENANTS)]
    user = (n * 13) % 400
    outcome = _OUTCOME_TABLE[(n * 31) % len(_OUTCOME_TABLE)]
    provider, service, host, api, model = MODELS[(n * 11) % len(MODELS)]
    findings: tuple[DlpFinding, ...] = ()
    prompt = None
    if outcome in ("redacted", "blocked"):
        kind = ENTITIES[(n * 3) % len(ENTITIES)]
        findings = (DlpFinding(kind, 1 + n % 3, "messages[0].content"),)
    if n % 10 == 0:
        prompt = f"Summarise the contract for <PERSON_1> and mail <EMAIL_ADDRESS_1>. Ticket {n}."
    moment = start + datetime.timedelta(seconds=span_s * n / total)
    return AuditRecord(
        record_id=f"{n:032x}",
        ts=format_ts(moment),
        kind="flow",
        tenant=tenant,
        outcome=outcome,
        status=200 if outcome in ("allowed", "redacted") else 403,
        principal=Principal(
            issuer=f"https://idp.{tenant}.example",
            subject=f"user-{user}",
            email=f"user{user}@{tenant}.example",
            department=DEPARTMENTS[user % len(DEPARTMENTS)],
            groups=("staff",),
            auth_method=("oidc", "device", "jwt")[user % 3],
            session_id=f"{user:016x}",
            client_addr=f"10.0.{user // 250}.{user % 250 + 1}",
        ),
        destination=Destination(provider, service, host, "api", api, model),
        decision=Decision(ACTIONS[outcome], f"rule-{outcome}", "2025-06-01.3"),
        findings=findings,
        usage=Usage(tokens_in=200 + n % 3000, tokens_out=20 + n % 700),
        timing=Timing(format_ts(moment), 300 + n % 900, 120 + n % 200, 500 + n % 1500),
        details={"stream": n % 2 == 0},
        prompt=prompt,
    )


def generate(folder: Path, total: int) -> float:
    """Write ``total`` records into ``folder/audit.db`` (and its public key); returns seconds."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    key = Ed25519PrivateKey.generate()
    (folder / "audit-signing.pub").write_bytes(export_public_key(key.public_key()))
    signer = CheckpointSigner(key)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    span = 30 * 86400.0
    start = now - datetime.timedelta(seconds=span)
    t0 = time.perf_counter()
    log = AuditLog.open(folder / "audit.db")
    try:
        batch = 20_000
        for first in range(0, total, batch):
            log.append(
                [
                    bench_record(n, start, span, total)
                    for n in range(first, min(total, first + batch))
                ]
            )
            if (first // batch) % 10 == 0:
                log.add_checkpoints(signer, sorted(set(TENANTS)), format_ts(now))
                print(
                    f"  {first + batch:>9,} records, {time.perf_counter() - t0:6.1f} s", flush=True
                )
        log.add_checkpoints(signer, sorted(set(TENANTS)), format_ts(now))
        log.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        log.close()
    took = time.perf_counter() - t0
    (folder / "records").write_text(f"{total}\n")
    return took


def ensure_db(total: int, regenerate: bool) -> Path:
    marker = CACHE / "records"
    if regenerate or not marker.is_file() or marker.read_text().strip() != str(total):
        print(f"generating {total:,} records into {CACHE} ...", flush=True)
        took = generate(CACHE, total)
        size = (CACHE / "audit.db").stat().st_size / 2**20
        print(f"generated in {took:.1f} s ({total / took:,.0f} records/s), {size:,.0f} MiB")
    else:
        print(f"reusing {CACHE / 'audit.db'} ({total:,} records; --regenerate to rebuild)")
    return CACHE / "audit.db"


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


FILTERS: tuple[tuple[str, FlowFilter], ...] = (
    ("by user (indexed)", FlowFilter(user="user-7")),
    ("by outcome blocked (indexed)", FlowFilter(outcome="blocked")),
    ("by rare outcome+tenant", FlowFilter(tenant="umbrella", outcome="over_quota")),
    ("by department (in-order scan)", FlowFilter(department="legal")),
    ("by model (in-order scan)", FlowFilter(model="gemini-2.5-pro")),
    ("by entity type (body scan)", FlowFilter(entity_type="CREDIT_CARD")),
    ("free text, common", FlowFilter(text="contract")),
    ("free text, one match (budgeted page)", FlowFilter(text="Ticket 4242.")),
    (
        "last hour",
        FlowFilter(
            since=format_ts(datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1))
        ),
    ),
)
SCOPES = (
    ("administrator", ReviewerScope.administrator()),
    ("reviewer of acme+globex", ReviewerScope.limited("bench", ["acme", "globex"])),
    ("reviewer of umbrella (10%)", ReviewerScope.limited("bench", ["umbrella"])),
)


def measure_queries(db: Path) -> None:
    conn = open_readonly(db, "audit")
    print("\n1. query layer (median of 5, ms): first page | page at the end")
    for scope_name, scope in SCOPES:
        print(f"  {scope_name}")
        query = FlowQuery(conn, scope)
        for name, flt in (("no filter", FlowFilter()), *FILTERS):

            def first(flt: FlowFilter = flt, query: FlowQuery = query) -> None:
                query.forget_plans()
                query.fetch(flt, Sort(), None)

            def last(flt: FlowFilter = flt, query: FlowQuery = query) -> None:
                query.forget_plans()
                query.fetch(flt, Sort(), None, forward=False)

            print(f"    {name:40} {timed(first):8.1f} | {timed(last):8.1f}")
        window = FlowWindow(query)
        window.reset()

        def next_page(window: FlowWindow = window) -> None:
            if window.more_after:
                window.load_after()
            else:
                window.reset()

        print(f"    {'next page while scrolling':40} {timed(next_page, 20):8.1f}")
    query = FlowQuery(conn, ReviewerScope.administrator())
    for key in ("user", "tokens"):
        for label, flt in (
            ("every record (no index)", FlowFilter()),
            ("user-7", FlowFilter(user="user-7")),
        ):

            def sorted_page(flt: FlowFilter = flt, key: str = key) -> None:
                query.fetch(flt, Sort(key), None)  # type: ignore[arg-type]

            print(f"  sort by {key:6} over {label:25} {timed(sorted_page, 1):8.1f}")
    conn.close()


async def measure_app(db: Path, pub: Path) -> None:
    """End to end in the headless app: keys pressed to table repainted."""
    print("\n2. headless app, 120x36 (ms)")
    state = Path("/tmp/warden-console-bench/state.db")
    t0 = time.perf_counter()
    app = build_app(db, state, pub, None, None, ReviewerScope.administrator())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FlowsScreen)
        print(
            f"  open (app start to first page shown)     {(time.perf_counter() - t0) * 1000:8.1f}"
        )

        async def change(flt: FlowFilter) -> tuple[float, float]:
            """(UI blocked: query + table rebuilt, the same plus the next repaint)."""
            start = time.perf_counter()
            screen.reload(flt)
            blocked = (time.perf_counter() - start) * 1000
            await pilot.pause()
            return blocked, (time.perf_counter() - start) * 1000

        print(f"  {'filter change':44} {'UI blocked':>10} {'+ repaint':>10}")
        for name, flt in FILTERS:
            runs = [await change(flt) for _ in range(3)]
            await change(FlowFilter())
            blocked = statistics.median(r[0] for r in runs)
            painted = statistics.median(r[1] for r in runs)
            print(f"  {name:44} {blocked:10.1f} {painted:10.1f}")
        start = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        print(
            f"  scroll to the end (End key)              {(time.perf_counter() - start) * 1000:8.1f}"
            f"   (last row #{screen.window.rows[-1].seq})"
        )
        start = time.perf_counter()
        await pilot.press("home")
        await pilot.pause()
        print(
            f"  back to the newest (Home key)            {(time.perf_counter() - start) * 1000:8.1f}"
        )
        screen.table.move_cursor(row=screen.table.row_count - 1)
        start = time.perf_counter()
        for _ in range(10):
            await pilot.press("down")
        await pilot.pause()
        print(
            f"  10 rows down across a page boundary      {(time.perf_counter() - start) * 1000:8.1f}"
        )
        start = time.perf_counter()
        await pilot.press("slash", *"contract", "enter")
        await pilot.pause()
        print(
            f"  typed search 'contract' + Enter          {(time.perf_counter() - start) * 1000:8.1f}"
        )


async def measure(db: Path, pub: Path) -> None:
    measure_queries(db)
    await measure_app(db, pub)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    db = ensure_db(args.records, args.regenerate)
    asyncio.run(measure(db, CACHE / "audit-signing.pub"))


if __name__ == "__main__":
    main()
