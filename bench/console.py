"""Review console benchmark: every filter and sort on 1M records, from the key press to the
table repainted, in the real app driven headless.

Run: ``.venv/bin/python bench/console.py [--records 1000000] [--regenerate] [--repeat 5]
[--cache DIR] [--no-main] [--only TEXT]`` (``--only``: the views whose name holds TEXT).

The audit database is generated once and cached in ``--cache`` (default
``/tmp/warden-console-bench/``: the file, its signing key's public half and a marker with
the record count and generator version); later runs reuse it. Generation goes through the
real write path, `AuditLog.append`, in batches of 20,000 records (one transaction each), so
every record is validated, canonically encoded, hash-chained and indexed (the review
indexes' triggers) exactly as the gateway does. A store cached by an older version is
brought up to date as the writer would between batches (`AuditLog.index_text` in a loop:
the missing column indexes, the older records' entity, sort and request-term rows, the
trigram text) before timing; the time it took is printed.

The mix (seeded, so every run builds the same store): 30 days, six tenants of different
sizes (40 % … 3 %), 2,400 people each in one tenant and one department, nine models of
four providers, the usual outcomes, 3 % auth and admin events, DLP findings of twelve
entity types (common e-mail addresses … rare IBANs) on the redacted and blocked flows, the
request part (method, path, transport, client family, a conversation for web apps and
coding agents), a redacted prompt on one flow in ten, and a few rare phrases (a project code name in 25
records) for free-text search.

What is timed: ``App.run_test`` at 120x36; each filter is typed into the filter form (or
the search line) and the clock runs from pressing the key that applies it (``Ctrl+S`` or
``Enter``) to the first frame the compositor renders after the table got its new rows
(`PaintProbe`); each sort from pressing ``s`` (next column) or ``r`` (reverse). Figures
are p50 and max over ``--repeat`` runs, the first run cold, as wall time and as the UI
thread's CPU time over the same span (what the view costs on an idle core: on a shared
machine wall time includes waiting for one). The last column says how the view was read
and what the query layer alone took. The ``main`` column is the
query of the previous design (``git show main:console/flows.py``, loaded beside the new
one) for the same view, query layer only, so the ratio understates the gain.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from textual.widgets import Input

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
from warden.audit.record import Request
from warden.console import ReviewerScope, build_app
from warden.console.app import ConsoleApp
from warden.console.db import open_readonly
from warden.console.filter_screen import FilterScreen
from warden.console.flows import FlowFilter, FlowQuery, Sort
from warden.console.flows_screen import FlowsScreen

GENERATOR = "3"  # bump when the mix changes: the cache is rebuilt
SEED = 20261202
TENANTS = (("acme", 40), ("globex", 25), ("initech", 15), ("umbrella", 10), ("hooli", 7),
           ("stark", 3))  # fmt: skip
PEOPLE = 2_400
DEPARTMENTS = ("research", "sales", "legal", "finance", "engineering", "support", "hr", "it")
MODELS = (
    (("openai", "openai-api", "api.openai.com", "openai.chat", "gpt-4o"), 30),
    (("openai", "openai-api", "api.openai.com", "openai.chat", "gpt-4o-mini"), 20),
    (("openai", "openai-api", "api.openai.com", "openai.responses", "o3"), 6),
    (("openai", "chatgpt", "chatgpt.com", "chatgpt.web", "auto"), 10),
    (("anthropic", "anthropic-api", "api.anthropic.com", "anthropic.messages",
      "claude-sonnet-4"), 15),
    (("anthropic", "claude", "claude.ai", "claude.web", "claude-opus-4"), 4),
    (("google", "gemini-api", "generativelanguage.googleapis.com", "gemini",
      "gemini-2.5-pro"), 8),
    (("google", "gemini-api", "generativelanguage.googleapis.com", "gemini",
      "gemini-2.5-flash"), 5),
    (("mistral", "mistral-api", "api.mistral.ai", "openai.chat", "mistral-large"), 2),
)  # fmt: skip
OUTCOMES = (("allowed", 70), ("redacted", 18), ("blocked", 5), ("coached", 2), ("over_quota", 1),
            ("upstream_error", 3), ("client_abort", 1))  # fmt: skip
ACTIONS = {"allowed": "allow", "redacted": "redact", "blocked": "block", "coached": "coach",
           "over_quota": "allow", "upstream_error": "allow", "client_abort": "allow"}  # fmt: skip
ENTITIES = (("EMAIL_ADDRESS", 30), ("PERSON", 25), ("PHONE_NUMBER", 12), ("LOCATION", 10),
            ("API_KEY", 6), ("CREDIT_CARD", 5), ("AWS_ACCESS_KEY", 4), ("IP_ADDRESS", 4),
            ("JWT", 2), ("US_SSN", 1), ("PRIVATE_KEY", 0.5), ("IBAN_CODE", 0.2))  # fmt: skip
WORDS = [
    "summarise",
    "contract",
    "draft",
    "reply",
    "customer",
    "invoice",
    "review",
    "refactor",
    "function",
    "test",
    "quarterly",
    "report",
    "migrate",
    "schema",
    "translate",
    "email",
    "meeting",
    "notes",
    "budget",
    "forecast",
    "incident",
    "postmortem",
    "explain",
    "error",
    "stack",
    "trace",
    "policy",
    "onboarding",
    "roadmap",
    "pricing",
    "churn",
    "latency",
    "kubernetes",
    "terraform",
    "python",
    "rust",
    "query",
    "index",
    "vendor",
    "legal",
    "clause",
    "renewal",
    "hiring",
    "offer",
]
#: The request part per API: path, the client families used with it, and whether its
#: calls name a conversation (web apps, coding agents).
PATHS = {
    "openai.chat": "/v1/chat/completions",
    "openai.responses": "/v1/responses",
    "chatgpt.web": "/backend-api/conversation",
    "anthropic.messages": "/v1/messages",
    "claude.web": "/api/organizations/append_message",
    "gemini": "/v1beta/models:generateContent",
}
CLIENTS = {
    "openai.chat": ("openai-python/1.54", "openai-node/4.71", "litellm/1.52", "curl/8.5",
                    "langchain/0.3"),
    "openai.responses": ("openai-python/1.54", "codex/0.46"),
    "chatgpt.web": ("chrome/131", "firefox/133", "edge/131", "safari/18"),
    "anthropic.messages": ("anthropic-python/0.40", "claude-code/2.0", "claude-code/2.0",
                           "curl/8.5"),
    "claude.web": ("chrome/131", "firefox/133"),
    "gemini": ("google-genai/1.2", "gemini-cli/0.9", "curl/8.5"),
}  # fmt: skip
#: Rare phrases for free-text search, each in a few records only.
RARE = ("project nightingale", "acquisition of tyrell", "Ticket 424242.")
FIRST = ("ana", "ben", "chloe", "dev", "eli", "fatima", "george", "hana", "ivan", "jun", "kofi",
         "lena", "mateo", "nora", "omar", "priya", "quinn", "rosa", "sven", "tara")  # fmt: skip


def _weighted[T](pairs: tuple[tuple[T, float], ...]) -> tuple[list[T], list[float]]:
    return [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass(frozen=True, slots=True)
class Person:
    tenant: str
    subject: str
    email: str
    department: str
    auth: str


def people(rng: random.Random) -> list[Person]:
    names, weights = _weighted(TENANTS)
    out = []
    for i in range(PEOPLE):
        tenant = rng.choices(names, weights)[0]
        first = FIRST[i % len(FIRST)]
        out.append(
            Person(
                tenant,
                f"{tenant[:2]}-{i:05d}",
                f"{first}.{i}@{tenant}.example",
                rng.choice(DEPARTMENTS),
                rng.choice(("oidc", "oidc", "device", "jwt")),
            )
        )
    return out


class Mix:
    """The generator: one seeded stream of records."""

    def __init__(self, total: int) -> None:
        self.rng = random.Random(SEED)
        self.people = people(self.rng)
        # Some people send far more than others (a long tail).
        self.activity = list(itertools.accumulate(self.rng.paretovariate(1.2) for _ in self.people))
        self.models = _weighted(MODELS)
        self.outcomes = _weighted(OUTCOMES)
        self.entities = _weighted(ENTITIES)
        self.total = total
        self.rare = {self.rng.randrange(total): RARE[k % len(RARE)] for k in range(25 * 3)}
        self.rare[424_242 % total] = RARE[2]
        self.conversations: dict[str, str] = {}

    def record(self, n: int, start: datetime.datetime, span_s: float) -> AuditRecord:
        rng = self.rng
        person = rng.choices(self.people, cum_weights=self.activity)[0]
        moment = start + datetime.timedelta(seconds=span_s * n / self.total)
        principal = Principal(
            issuer=f"https://idp.{person.tenant}.example",
            subject=person.subject,
            email=person.email,
            department=person.department,
            groups=("staff",),
            auth_method=person.auth,
            session_id=f"{rng.getrandbits(64):016x}",
            client_addr=f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        )
        roll = rng.random()
        if roll < 0.02:
            return AuditRecord(
                record_id=f"{n:032x}", ts=format_ts(moment), kind="auth", tenant=person.tenant,
                outcome="ok" if rng.random() < 0.9 else "failed",
                event=rng.choice(("login", "device_login", "logout", "session_expired")),
                principal=principal,
            )  # fmt: skip
        if roll < 0.03:
            return AuditRecord(
                record_id=f"{n:032x}", ts=format_ts(moment), kind="admin", tenant=person.tenant,
                outcome="ok", event=rng.choice(("revoke_session", "policy_reload", "scim_update")),
                principal=principal,
            )  # fmt: skip
        outcome = rng.choices(*self.outcomes)[0]
        provider, service, host, api, model = rng.choices(*self.models)[0]
        findings: tuple[DlpFinding, ...] = ()
        if outcome in ("redacted", "blocked"):
            kinds = {rng.choices(*self.entities)[0] for _ in range(rng.choice((1, 1, 2, 3)))}
            findings = tuple(
                DlpFinding(kind, rng.randint(1, 4), "messages[0].content") for kind in sorted(kinds)
            )
        prompt = None
        if n in self.rare:
            prompt = f"Please {rng.choice(WORDS)} the {self.rare[n]} notes for <PERSON_1>."
        elif rng.random() < 0.1:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30)))
            prompt = f"{words.capitalize()} for <PERSON_1> (<EMAIL_ADDRESS_1>). Ticket {n}."
        total_ms = int(rng.lognormvariate(6.5, 0.8))
        client = rng.choice(CLIENTS[api])
        conversation = None
        if api.endswith(".web") or client.startswith(("claude-code", "codex")):
            # A person's conversation goes on for a few turns, then a new one starts.
            current = self.conversations.get(person.subject)
            if current is None or rng.random() < 0.25:
                current = f"{rng.getrandbits(128):032x}"
                self.conversations[person.subject] = current
            conversation = current
        get = rng.random() < 0.02
        request = Request(
            method="GET" if get else "POST",
            path="/v1/models" if get else PATHS[api],
            transport="websocket" if api == "chatgpt.web" and rng.random() < 0.3 else "http",
            client=client,
            conversation=conversation,
        )
        return AuditRecord(
            record_id=f"{n:032x}",
            ts=format_ts(moment),
            kind="flow",
            tenant=person.tenant,
            outcome=outcome,
            status=200 if outcome in ("allowed", "redacted") else 403,
            principal=principal,
            destination=Destination(provider, service, host, "api", api, model),
            decision=Decision(ACTIONS[outcome], f"rule-{outcome}", "2026-11-01.3"),
            findings=findings,
            usage=Usage(
                tokens_in=int(rng.lognormvariate(6, 1.2)), tokens_out=int(rng.lognormvariate(5, 1))
            ),
            timing=Timing(format_ts(moment), total_ms // 2, total_ms // 4, total_ms),
            details={"stream": rng.random() < 0.6},
            prompt=prompt,
            request=request,
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
    mix = Mix(total)
    tenants = sorted(name for name, _ in TENANTS)
    t0 = time.perf_counter()
    log = AuditLog.open(folder / "audit.db")
    try:
        batch = 20_000
        for first in range(0, total, batch):
            log.append(
                [mix.record(n, start, span) for n in range(first, min(total, first + batch))]
            )
            while log.index_text(5_000):  # what the writer does between batches
                pass
            if (first // batch) % 10 == 0:
                log.add_checkpoints(signer, tenants, format_ts(now))
                print(
                    f"  {first + batch:>9,} records, {time.perf_counter() - t0:6.1f} s", flush=True
                )
        log.add_checkpoints(signer, tenants, format_ts(now))
        log.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        log.close()
    took = time.perf_counter() - t0
    (folder / "records").write_text(f"{total} {GENERATOR}\n")
    return took


def ensure_db(cache: Path, total: int, regenerate: bool) -> Path:
    marker = cache / "records"
    db = cache / "audit.db"
    if regenerate or not marker.is_file() or marker.read_text().split() != [str(total), GENERATOR]:
        print(f"generating {total:,} records into {cache} ...", flush=True)
        took = generate(cache, total)
        print(f"generated in {took:.1f} s ({total / took:,.0f} records/s)")
    else:
        print(f"reusing {db} ({total:,} records; --regenerate to rebuild)")
        t0 = time.perf_counter()
        log = AuditLog.open(db, progress=lambda text: print(f"  {text}", flush=True))
        print(f"review indexes checked/built in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        indexed = 0
        while done := log.index_text(5_000):  # what the writer does between batches
            indexed += done
        log.close()
        if indexed:
            print(f"older records' indexes and text caught up in {time.perf_counter() - t0:.1f} s")
    print(f"database {db.stat().st_size / 2**20:,.0f} MiB")
    return db


# -- the views timed ------------------------------------------------------------------

FILTERS: tuple[tuple[str, FlowFilter], ...] = (
    ("tenant umbrella (10 %)", FlowFilter(tenant="umbrella")),
    ("one user (subject)", FlowFilter(user="ac-00010")),
    ("one user (e-mail)", FlowFilter(user="rosa.937@initech.example")),
    ("department legal", FlowFilter(department="legal")),
    ("decision block", FlowFilter(decision="block")),
    ("outcome over_quota (1 %)", FlowFilter(outcome="over_quota")),
    ("provider mistral (2 %)", FlowFilter(provider="mistral")),
    ("model gemini-2.5-pro", FlowFilter(model="gemini-2.5-pro")),
    ("kind admin (1 %)", FlowFilter(kind="admin")),
    ("entity CREDIT_CARD (~1 %)", FlowFilter(entity_type="CREDIT_CARD")),
    ("entity IBAN_CODE (rare)", FlowFilter(entity_type="IBAN_CODE")),
    ("entity + tenant stark", FlowFilter(entity_type="API_KEY", tenant="stark")),
    ("last hour", FlowFilter(since="1h")),
    ("a day last week", FlowFilter(since="7d", until="6d")),
    ("free text, common ('invoice')", FlowFilter(text="invoice")),
    ("free text, rare ('nightingale')", FlowFilter(text="nightingale")),
    ("free text, one record", FlowFilter(text="Ticket 424242.")),
    ("free text, absent", FlowFilter(text="zanzibar quokka")),
    ("free text, 2 letters ('qu')", FlowFilter(text="qu")),
    ("free text, 2 letters, rare ('zq')", FlowFilter(text="zq")),
    ("free text, 1 letter ('q')", FlowFilter(text="q")),
    ("dept legal + model o3 + blocked", FlowFilter(department="legal", model="o3", outcome="blocked")),
    ("dept legal + model o3", FlowFilter(department="legal", model="o3")),
    ("decision block + provider google + dept hr",
     FlowFilter(decision="block", provider="google", department="hr")),
    ("client curl (prefix, ~8 %)", FlowFilter(client="curl")),
    ("client codex + tenant hooli", FlowFilter(client="codex", tenant="hooli")),
    ("transport websocket (~3 %)", FlowFilter(transport="websocket")),
    ("method GET (2 %)", FlowFilter(method="GET")),
    ("path /v1/responses (prefix)", FlowFilter(path="/v1/responses")),
    ("transport websocket + model auto + blocked",
     FlowFilter(transport="websocket", model="auto", outcome="blocked")),
)  # fmt: skip
#: Sort orders timed over everything in scope and with a filter.
SORTED_FILTERS: tuple[tuple[str, FlowFilter], ...] = (
    ("every record", FlowFilter()),
    ("department legal", FlowFilter(department="legal")),
    ("entity CREDIT_CARD", FlowFilter(entity_type="CREDIT_CARD")),
    ("free text 'invoice'", FlowFilter(text="invoice")),
)


class PaintProbe:
    """When the table last got rows, and when the compositor last rendered a frame."""

    def __init__(self, app: ConsoleApp, screen: FlowsScreen) -> None:
        self.rendered = 0.0
        self.painted = 0.0
        #: The UI thread's CPU time at the last frame (what the view cost on an idle core).
        self.painted_cpu = 0.0
        display = app._display
        render_rows = screen._render_rows

        def display_probe(on: Any, renderable: Any) -> None:
            display(on, renderable)
            if renderable is not None:
                self.painted = time.perf_counter()
                self.painted_cpu = time.thread_time()

        def render_probe(cursor: int) -> None:
            render_rows(cursor)
            self.rendered = time.perf_counter()

        app._display = display_probe  # type: ignore[method-assign,assignment]
        screen._render_rows = render_probe  # type: ignore[method-assign]

    async def painted_since(
        self, start: float, start_cpu: float, limit_s: float = 30.0
    ) -> tuple[float, float]:
        """(wall, UI thread CPU) milliseconds from ``start`` to the first frame after new rows."""
        deadline = time.perf_counter() + limit_s
        while not (self.rendered > start and self.painted > self.rendered):
            if time.perf_counter() > deadline:
                raise TimeoutError("the table was not repainted")
            await asyncio.sleep(0.0005)
        return (self.painted - start) * 1000, (self.painted_cpu - start_cpu) * 1000


def main_flows() -> types.ModuleType | None:
    """main's ``console/flows.py``, loaded as ``warden.console._main_flows``."""
    root = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(
            ["git", "show", "main:console/flows.py"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("warden.console._main_flows", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "warden.console"
    sys.modules[spec.name] = module
    exec(compile(source, "main:console/flows.py", "exec"), module.__dict__)
    return module


def query_ms(query: FlowQuery, flt: FlowFilter, sort: Sort) -> str:
    """The new query layer alone for the view: plan and first page, median of 3 (ms)."""
    runs = []
    for _ in range(3):
        query.forget_plans()
        t0 = time.perf_counter()
        query.fetch(flt, sort, None)
        runs.append((time.perf_counter() - t0) * 1000)
    return f"{statistics.median(runs):.0f}"


def main_ms(module: types.ModuleType | None, db: Path, flt: FlowFilter, sort: Sort) -> str:
    """main's query for the same view (first page, ms), or why there is none."""
    if module is None:
        return "-"
    conn = open_readonly(db, "audit")
    try:
        old = module.FlowQuery(conn, ReviewerScope.administrator())
        old_filter = module.FlowFilter(**{k: v for k, v in flt.active()})
        t0 = time.perf_counter()
        old.fetch(old_filter, module.Sort(sort.key, sort.descending), None)
        return f"{(time.perf_counter() - t0) * 1000:.0f}"
    except Exception as exc:
        return f"({type(exc).__name__})"
    finally:
        conn.close()


@dataclass(slots=True)
class Row:
    what: str
    timed: list[tuple[float, float]]
    driver: str
    main: str

    @property
    def runs(self) -> list[float]:
        return [wall for wall, _ in self.timed]

    @property
    def cpu(self) -> list[float]:
        return [cpu for _, cpu in self.timed]

    def line(self) -> str:
        p50 = statistics.median(self.runs)
        cpu = statistics.median(self.cpu)
        ratio = ""
        if self.main.replace(".", "").isdigit() and cpu > 0:
            ratio = f"{float(self.main) / cpu:.1f}x"
        flag = "" if max(self.cpu) <= 200 else "  > 200 CPU"
        return (
            f"| {self.what} | {p50:.0f} | {max(self.runs):.0f} | {cpu:.0f} | {max(self.cpu):.0f} "
            f"| {self.main} | {ratio} | {self.driver} |{flag}"
        )


async def measure_app(
    db: Path, pub: Path, repeat: int, compare: bool, only: str | None = None
) -> list[Row]:
    state = db.parent / "state.db"
    module = main_flows() if compare else None
    app = build_app(db, state, pub, None, None, ReviewerScope.administrator())
    rows: list[Row] = []
    t0 = time.perf_counter()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FlowsScreen)
        print(
            f"open (app start to the first page shown): {(time.perf_counter() - t0) * 1000:.0f} ms"
        )
        probe = PaintProbe(app, screen)

        async def press_timed(key: str) -> tuple[float, float]:
            start, start_cpu = time.perf_counter(), time.thread_time()
            await pilot.press(key)
            return await probe.painted_since(start, start_cpu)

        async def apply_filter(flt: FlowFilter) -> tuple[float, float]:
            if flt.active() == [("text", flt.text)]:
                await pilot.press("slash")
                screen.query_one("#search", Input).value = flt.text or ""
                return await press_timed("enter")
            await pilot.press("f")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, FilterScreen)
            for name, value in flt.active():
                form.query_one(f"#filter-{name}", Input).value = value
            return await press_timed("ctrl+s")

        async def clear() -> None:
            screen.query_one("#search", Input).value = ""
            screen.reload(FlowFilter(), Sort())
            await pilot.pause()

        (conversation,) = screen.query_.conn.execute(
            "SELECT json_extract(body, '$.request.conversation') FROM records WHERE seq >= 500000 "
            "AND json_extract(body, '$.request.conversation') IS NOT NULL LIMIT 1"
        ).fetchone()
        timed = [*FILTERS, ("one conversation", FlowFilter(conversation=conversation))]
        for name, flt in timed:
            if only is not None and only not in f"filter: {name}":
                continue
            runs = []
            applied = flt
            for _ in range(repeat):
                runs.append(await apply_filter(flt))
                applied = screen.window.filter  # times as the form resolved them
                await clear()
            driver = screen.query_.plan(applied, Sort()).driver
            driver += f"; query {query_ms(screen.query_, applied, Sort())} ms"
            rows.append(Row(f"filter: {name}", runs, driver, main_ms(module, db, applied, Sort())))
            print(rows[-1].line(), flush=True)
        for label, flt in SORTED_FILTERS:
            screen.reload(flt, Sort())
            await pilot.pause()
            for key in [k for k in ("tenant", "user", "department", "provider", "model",
                                    "decision", "outcome", "tokens", "latency")]:  # fmt: skip
                if only is not None and only not in f"sort by {key} ↓, {label}":
                    continue
                runs = []
                for _ in range(repeat):
                    # `s` moves to the next column: start from the one before ``key``.
                    keys = ("time", "tenant", "user", "department", "provider", "model",
                            "decision", "outcome", "tokens", "latency")  # fmt: skip
                    before = keys[keys.index(key) - 1]
                    screen.reload(flt, Sort(before))
                    await pilot.pause()
                    runs.append(await press_timed("s"))
                    assert screen.window.sort.key == key
                driver = screen.query_.plan(flt, Sort(key)).driver
                driver += f"; query {query_ms(screen.query_, flt, Sort(key))} ms"
                rows.append(
                    Row(
                        f"sort by {key} ↓, {label}",
                        runs,
                        driver,
                        main_ms(module, db, flt, Sort(key)),
                    )
                )
                print(rows[-1].line(), flush=True)
            if only is not None and only not in f"reverse (tokens ↑), {label}":
                continue
            runs = []
            for _ in range(repeat):
                screen.reload(flt, Sort("tokens"))
                await pilot.pause()
                runs.append(await press_timed("r"))
            rows.append(Row(f"reverse (tokens ↑), {label}", runs,
                            screen.query_.plan(flt, Sort("tokens", False)).driver,
                            main_ms(module, db, flt, Sort("tokens", False))))  # fmt: skip
            print(rows[-1].line(), flush=True)
        await clear()
        for key, what in (("end", "End: the oldest record"), ("home", "Home: the newest record")):
            if only is not None and only not in what:
                continue
            runs = [await press_timed(key) for _ in range(repeat)]
            rows.append(Row(what, runs, "log in order", "-"))
            print(rows[-1].line(), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/warden-console-bench"))
    parser.add_argument("--no-main", action="store_true", help="skip main's queries (slow)")
    parser.add_argument("--only", help="time only the views whose name contains this text")
    args = parser.parse_args()
    db = ensure_db(args.cache, args.records, args.regenerate)
    print(
        "\n| view | wall p50 ms | wall max ms | UI CPU p50 ms | UI CPU max ms | main query ms "
        "| main ÷ CPU p50 | how it is read |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    rows = asyncio.run(
        measure_app(db, args.cache / "audit-signing.pub", args.repeat, not args.no_main, args.only)
    )
    for label, cpu in (("wall", False), ("UI thread CPU", True)):
        slow = [row for row in rows if max(row.cpu if cpu else row.runs) > 200]
        print(f"{len(rows) - len(slow)} of {len(rows)} views ≤ 200 ms {label} (max); over: "
              + (", ".join(row.what for row in slow) or "none"))  # fmt: skip
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
