"""One /metrics for a gateway with workers: every process's series, labelled ``worker``."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from warden.gateway.metrics import GatewayMetrics
from warden.gateway.worker_metrics import STALE_S, metrics_dir, render_merged


def _samples(text: bytes, name: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if s.name == name:
                out[(s.labels["worker"], s.labels.get("decision", ""))] = s.value
    return out


def test_series_of_every_worker_are_merged_and_labelled(tmp_path: Path) -> None:
    control = GatewayMetrics()
    control.connects.labels("blocked").inc()
    metrics_dir(tmp_path).mkdir()
    for worker, n in (("1", 3), ("2", 5)):
        m = GatewayMetrics()
        m.connects.labels("intercept").inc(n)
        (metrics_dir(tmp_path) / f"metrics-{worker}.prom").write_bytes(m.render())
    text = render_merged(control, tmp_path)
    assert _samples(text, "warden_connects_total") == {
        ("control", "blocked"): 1.0,
        ("1", "intercept"): 3.0,
        ("2", "intercept"): 5.0,
    }
    # one HELP/TYPE per family: valid exposition for Prometheus
    assert text.count(b"# TYPE warden_connects_total counter") == 1


def test_a_gone_workers_old_file_and_a_broken_one_are_skipped(tmp_path: Path) -> None:
    metrics_dir(tmp_path).mkdir()
    m = GatewayMetrics()
    m.connects.labels("intercept").inc()
    old = metrics_dir(tmp_path) / "metrics-3.prom"
    old.write_bytes(m.render())
    os.utime(old, (0, 0))
    (metrics_dir(tmp_path) / "metrics-4.prom").write_text("garbage{{{ not metrics\n")
    text = render_merged(GatewayMetrics(), tmp_path, now=STALE_S + 10)
    assert _samples(text, "warden_connects_total") == {}
