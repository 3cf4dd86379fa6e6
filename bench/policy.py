"""Policy decision benchmark: 100 tenants x 20 rules, realistic principals and requests.

Run: ``.venv/bin/python bench/policy.py [--tenants 100] [--decisions 200000]``.

Builds a policy document in memory (per tenant: 8 tenant rules, 3 departments x 3
rules, one group, one role and one user exception: 20 rules, plus two enforced default
rules and a models list), compiles it, then times ``decide`` for a pre-generated mix of
principals (departments, groups, roles, user exceptions, an occasional unknown tenant
or anonymous flow) and requests (API and web app, several providers and models, before
and after DLP). Prints p50/p99 per decision (each call timed on its own) and decisions/s
(a tight loop), then the same for ``decide`` followed by ``Quotas.admit``. Target: p50
at most 50 microseconds per decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.policy import conftest as _shim  # noqa: F401  (maps warden.policy if needed)
from warden.policy.engine import compile_policy, decide
from warden.policy.facts import Kind, PrincipalFacts, RequestFacts
from warden.policy.loader import load_policy
from warden.policy.quotas import Quotas

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "o3",
    "o3-pro",
    "o4-mini",
    "claude-sonnet-4-5",
    "claude-3-5-haiku-20241022",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "llama-3-70b",
]
DESTS: list[tuple[str, str, str, Kind, str]] = [
    ("openai", "openai", "api.openai.com", "api", "openai.chat_completions"),
    ("openai", "openai", "api.openai.com", "api", "openai.responses"),
    ("anthropic", "anthropic", "api.anthropic.com", "api", "anthropic.messages"),
    ("google", "gemini", "generativelanguage.googleapis.com", "api", "gemini.generate_content"),
    ("openai", "chatgpt-web", "chatgpt.com", "webapp", "openai.web_conversation"),
    ("anthropic", "claude-web", "claude.ai", "webapp", "anthropic.web_completion"),
]
ENTITIES = [
    None,
    None,
    frozenset(),
    frozenset({"PERSON"}),
    frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER"}),
    frozenset({"API_KEY"}),
]
DEPTS = ["eng", "finance", "sales"]


def tenant_doc(i: int) -> dict:
    rules = [
        {"id": f"t{i}-big", "match": {"min_bytes": 1_000_000}, "action": "block"},
        {"id": f"t{i}-many", "match": {"min_segments": 200}, "action": "block"},
        {
            "id": f"t{i}-web-coach",
            "match": {"kind": "webapp", "service": ["chatgpt-web", "claude-web"]},
            "action": "coach",
            "coach": "Careful with data.",
        },
        {
            "id": f"t{i}-pii",
            "match": {"entities": ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"]},
            "action": "redact",
            "dlp_profile": "pii",
        },
        {
            "id": f"t{i}-gemini",
            "match": {"provider": "google", "model": "gemini-2.5-*"},
            "action": "allow",
        },
        {
            "id": f"t{i}-anthropic",
            "match": {"host": "api.anthropic.com", "model": "claude-*"},
            "action": "allow",
            "logging": "redacted",
        },
        {
            "id": f"t{i}-o-series",
            "match": {"model": ["o3*", "o4-mini*"], "kind": "api"},
            "action": "allow",
        },
        {"id": f"t{i}-api", "match": {"kind": "api", "api": "openai.*"}, "action": "allow"},
    ]
    depts = {
        "eng": [
            {"id": f"t{i}-eng-o3pro", "match": {"model": "o3-pro*"}, "action": "block"},
            {
                "id": f"t{i}-eng-big",
                "match": {"min_bytes": 500_000, "kind": "api"},
                "action": "block",
            },
            {"id": f"t{i}-eng-embed", "match": {"api": "openai.embeddings"}, "action": "allow"},
        ],
        "finance": [
            {
                "id": f"t{i}-fin-4o",
                "match": {"model": ["gpt-4o", "gpt-4o-2024-*"]},
                "action": "block",
            },
            {"id": f"t{i}-fin-web", "match": {"kind": "webapp"}, "action": "block"},
            {
                "id": f"t{i}-fin-redact",
                "match": {"provider": ["openai", "anthropic"]},
                "action": "redact",
                "dlp_profile": "pii-strict",
            },
        ],
        "sales": [
            {"id": f"t{i}-sales-claude-web", "match": {"service": "claude-web"}, "action": "block"},
            {"id": f"t{i}-sales-gemini", "match": {"provider": "google"}, "action": "block"},
            {
                "id": f"t{i}-sales-log",
                "match": {"kind": "api"},
                "action": "allow",
                "logging": "full-redacted-body",
            },
        ],
    }
    return {
        "models": ["gpt-4o*", "gpt-4.1*", "o3*", "o4-mini*", "claude-*", "gemini-2.5-*"],
        "quotas": {
            "per_user": {"requests_per_minute": 10_000_000},
            "per_department": {"tokens_per_day": 10**12},
            "per_tenant": {"requests_per_minute": 10**9},
        },
        "rules": rules,
        "departments": {d: {"rules": r} for d, r in depts.items()},
        "groups": {
            "contractors": {
                "rules": [
                    {
                        "id": f"t{i}-contractors",
                        "match": {"model": ["o3*", "claude-*"]},
                        "action": "block",
                    }
                ]
            }
        },
        "roles": {
            "admin": {
                "groups": ["llm-admins"],
                "rules": [
                    {"id": f"t{i}-admin", "match": {"kind": "api", "model": "*"}, "action": "allow"}
                ],
            }
        },
        "users": {
            "u0": {"rules": [{"id": f"t{i}-u0", "match": {"model": "o3-pro*"}, "action": "allow"}]}
        },
    }


def build(tenants: int) -> dict:
    return {
        "dlp_profiles": ["pii", "pii-strict", "secrets"],
        "defaults": {
            "scan_profile": "secrets",
            "rules": [
                {
                    "id": "keys",
                    "enforce": True,
                    "match": {"entities": ["API_KEY", "*_TOKEN"]},
                    "action": "block",
                },
                {
                    "id": "huge",
                    "enforce": True,
                    "match": {"min_bytes": 5_000_000},
                    "action": "block",
                },
            ],
        },
        "tenants": {f"tenant{i:03d}": tenant_doc(i) for i in range(tenants)},
    }


def workload(tenants: int, n: int, rng: random.Random) -> list[tuple[PrincipalFacts, RequestFacts]]:
    out = []
    for _ in range(n):
        roll = rng.random()
        tenant = "unknown" if roll < 0.01 else f"tenant{rng.randrange(tenants):03d}"
        subject = None if roll > 0.99 else f"u{rng.randrange(200)}"
        groups = tuple(
            g
            for g, p in (("contractors", 0.1), ("llm-admins", 0.05), ("staff", 0.9))
            if rng.random() < p
        )
        principal = PrincipalFacts(tenant, subject, rng.choice([*DEPTS, "hr", None]), groups)
        provider, service, host, kind, api = rng.choice(DESTS)
        model = None if kind == "webapp" and rng.random() < 0.7 else rng.choice(MODELS)
        request = RequestFacts(
            provider,
            service,
            host,
            kind,
            api,
            model,
            rng.random() > 0.02,
            rng.randrange(200, 40_000),
            rng.randrange(1, 30),
            rng.choice(ENTITIES),
        )
        out.append((principal, request))
    return out


def measure(
    label: str,
    fn: Callable[[PrincipalFacts, RequestFacts], object],
    pairs: list[tuple[PrincipalFacts, RequestFacts]],
) -> None:
    per_call = []
    clock = time.perf_counter_ns
    for principal, request in pairs:
        t = clock()
        fn(principal, request)
        per_call.append(clock() - t)
    per_call.sort()
    start = time.perf_counter()
    for principal, request in pairs:
        fn(principal, request)
    elapsed = time.perf_counter() - start
    p50 = statistics.median(per_call) / 1000
    p99 = per_call[int(len(per_call) * 0.99)] / 1000
    print(
        f"{label:<22} p50 {p50:6.2f} µs   p99 {p99:6.2f} µs   {len(pairs) / elapsed:>10,.0f} decisions/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--decisions", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(5)
    start = time.perf_counter()
    document = load_policy(build(args.tenants))
    policy = compile_policy(document)
    rules = sum(1 for _ in policy.rules())
    print(
        f"policy: {args.tenants} tenants, {rules} rules, version {policy.version}, load+compile {time.perf_counter() - start:.2f} s"
    )
    pairs = workload(args.tenants, args.decisions, rng)
    actions: dict[str, int] = {}
    for principal, request in pairs[:20_000]:
        a = decide(policy, principal, request).action
        actions[a] = actions.get(a, 0) + 1
    print("mix:", ", ".join(f"{k} {v / 200:.1f}%" for k, v in sorted(actions.items())))
    measure("decide", lambda pr, rq: decide(policy, pr, rq), pairs)
    quotas = Quotas(lambda: policy)
    now = time.time()

    def with_quota(pr: PrincipalFacts, rq: RequestFacts) -> None:
        if decide(policy, pr, rq).action != "block":
            quotas.admit(pr, now)

    measure("decide + Quotas.admit", with_quota, pairs)
    measure("Quotas.admit alone", lambda pr, rq: quotas.admit(pr, now), pairs)


if __name__ == "__main__":
    main()
