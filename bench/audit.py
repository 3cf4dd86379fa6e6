"""Audit log benchmark: sustained records/s through the audit writer process, and the latency
it adds per flow.

Run: ``.venv/bin/python bench/audit.py [--seconds 5] [--synchronous NORMAL|FULL]``; the
writer is the child process `warden run` uses (the thread writer it replaced is gone).

1. Throughput: 256 asyncio tasks each ``await writer.write(record)`` in a loop for
   ``--seconds``; records are built (and validated) on the event loop as the proxy would,
   chained, group-committed and checkpointed (Ed25519, default policy) by the writer.
2. Added latency: records arrive at a steady 500 and 2000 per second (one new flow per
   due tick, each its own task); the figure is the time ``await writer.write(record)``
   takes, i.e. what the commit-before-release rule adds to a flow. p50, p99 and max.

3. With ``--index-cost``: what the review indexes cost the writer, `AuditLog.append` in one
   process (500-record batches of pre-built records, 20,000 per round), four set-ups
   alternated round by round so the machine's load hits them alike: the log alone (main's
   indexes), with the column indexes, with the entity, sort and request-term rows too (all
   on the commit), and with the trigram text filled between batches as the writer does.
   Microseconds of the writer's CPU per record (median of the rounds).

Each run uses a fresh database in a temporary folder on the same disk as the temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from warden.audit import (
    AuditLog,
    AuditRecord,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Timing,
    Usage,
    review_index,
)
from warden.audit import store as audit_store
from warden.audit.record import Request
from warden.audit.review_index import REVIEW_COLUMNS
from warden.audit.writer_process import AuditWriterProcess, WriterSettings

TENANTS = ("acme", "globex", "initech", "umbrella")


def make_record(n: int) -> AuditRecord:
    """A typical flow record (~1 KB canonical), four tenants round-robin."""
    return AuditRecord.new(
        kind="flow",
        tenant=TENANTS[n % len(TENANTS)],
        outcome="redacted",
        status=200,
        principal=Principal(
            issuer="https://login.microsoftonline.com/7f0c0e2a/v2.0",
            subject=f"user-{n % 500}",
            email=f"user{n % 500}@example.com",
            department="research",
            groups=("staff", "ml-platform"),
            auth_method="oidc",
            session_id=f"sess-{n % 900}",
            client_addr="10.20.30.40",
        ),
        destination=Destination(
            provider="openai",
            service="openai-api",
            host="api.openai.com",
            api_kind="api",
            api="openai.chat",
            model="gpt-4o-mini",
        ),
        decision=Decision(action="redact", rule_id="dlp-pii", policy_version="2025-03-01.4"),
        findings=(DlpFinding("EMAIL_ADDRESS", 1, "messages[1].content"),),
        usage=Usage(tokens_in=812, tokens_out=95),
        timing=Timing(
            started_at="2025-03-01T12:00:00.000Z",
            upstream_latency_ms=420,
            ttfb_ms=180,
            total_ms=610,
        ),
        details={"stream": True},
        request=Request(
            "POST", "/v1/chat/completions", "http", "openai-python/1.54", f"conv-{n % 3000}"
        ),
    )


type Writer = AuditWriterProcess


async def open_writer(folder: Path, synchronous: str) -> Writer:
    writer = AuditWriterProcess(
        WriterSettings(folder / "audit.db", folder, synchronous)  # type: ignore[arg-type]
    )
    await writer.start()
    return writer


async def close_writer(writer: Writer) -> None:
    await writer.close()


async def throughput(writer: Writer, seconds: float, concurrency: int = 256) -> float:
    count, elapsed = await drive(writer, seconds, concurrency)
    return count / elapsed


async def drive(writer: Writer, seconds: float, concurrency: int = 256) -> tuple[int, float]:
    """``concurrency`` writers as fast as the writer takes them for ``seconds``: how many
    records, in how many seconds."""
    count = 0
    deadline = time.perf_counter() + seconds

    async def submitter(offset: int) -> None:
        nonlocal count
        n = offset
        while time.perf_counter() < deadline:
            await writer.write(make_record(n))
            count += 1
            n += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(submitter(i) for i in range(concurrency)))
    return count, time.perf_counter() - start


async def steady(writer: Writer, rate: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(record: AuditRecord) -> None:
        t0 = time.perf_counter()
        await writer.write(record)
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate))
        while sent < due:
            task = asyncio.create_task(one(make_record(sent)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    return latencies


SETUPS = ("log alone", "+ column indexes", "+ entity/sort/term rows", "+ text between batches")


def index_cost(rounds: int = 3, per_round: int = 20_000, batch: int = 500) -> dict[str, float]:
    """Writer CPU µs per record for each of `SETUPS` (median over ``rounds``)."""
    records = [make_record(n) for n in range(per_round)]
    indexing = review_index.index_records
    results: dict[str, list[float]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for k, name in enumerate(SETUPS):
                log = AuditLog.open(Path(tmp) / f"{r}-{k}.db")
                if k == 0:
                    for column in REVIEW_COLUMNS:
                        log.connection.execute(f"DROP INDEX IF EXISTS {column.index}")
                audit_store.index_records = indexing if k >= 2 else (lambda conn, rows: None)  # type: ignore[attr-defined,assignment]
                t0 = time.thread_time()
                try:
                    for first in range(0, per_round, batch):
                        log.append(records[first : first + batch])
                        if k == 3:
                            while log.index_text():
                                pass
                finally:
                    audit_store.index_records = indexing  # type: ignore[attr-defined]
                results[name].append((time.thread_time() - t0) * 1e6 / per_round)
                log.close()
    return {name: statistics.median(values) for name, values in results.items()}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL")
    parser.add_argument("--index-cost", action="store_true", help="only the review indexes' cost")
    args = parser.parse_args()
    if args.index_cost:
        cost = index_cost()
        base = cost[SETUPS[0]]
        print("review indexes, writer CPU per record (AuditLog.append, 500-record batches)")
        for name, us in cost.items():
            print(f"  {name:<26} {us:7.0f} µs  x{us / base:.2f}  ({1e6 / us:,.0f} records/s)")
        return

    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "throughput"
        folder.mkdir()
        writer = await open_writer(folder, args.synchronous)
        rate = await throughput(writer, args.seconds)
        await close_writer(writer)
        rows.append(("sustained, 256 concurrent writers", f"{rate:,.0f}", "", "", ""))
        for target in (500, 2000):
            folder = Path(tmp) / f"steady-{target}"
            folder.mkdir()
            writer = await open_writer(folder, args.synchronous)
            latencies = await steady(writer, target, args.seconds)
            await close_writer(writer)
            ms = [v * 1000 for v in latencies]
            rows.append(
                (
                    f"steady {target}/s ({len(ms)} records)",
                    "",
                    f"{statistics.median(ms):.3f}",
                    f"{percentile(ms, 0.99):.3f}",
                    f"{max(ms):.3f}",
                )
            )
    header = (
        f"audit write (process, synchronous={args.synchronous})",
        "records/s",
        "p50 ms",
        "p99 ms",
        "max ms",
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for line in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
