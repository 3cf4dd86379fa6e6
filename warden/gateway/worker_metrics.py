"""``/metrics`` of a gateway with ``proxy.workers`` above 1: every process's series in one.

Each proxy worker writes its registry's exposition to ``<state>/run/metrics-<id>.prom``
every `EVERY_S` (atomically: a new file renamed over the old). The control plane's
``/metrics`` merges its own series with every worker's file, each sample labelled
``worker`` (``control``, ``1``, ``2`` ...), so a counter is summed over workers with
``sum without (worker) (...)``. A worker's figures are at most `EVERY_S` old; a file left
by a worker that no longer runs (fewer workers after a restart) is skipped once it is
older than `STALE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from warden.gateway.metrics import GatewayMetrics

logger = logging.getLogger("warden.metrics")

EVERY_S: Final = 2.0
STALE_S: Final = 30.0


def metrics_dir(state_dir: Path) -> Path:
    return state_dir / "run"


async def keep_writing(metrics: GatewayMetrics, state_dir: Path, worker_id: int) -> None:
    """A worker's task: its exposition to the shared folder, every `EVERY_S`."""
    folder = metrics_dir(state_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"metrics-{worker_id}.prom"
    temp = folder / f".metrics-{worker_id}.tmp"
    while True:
        try:
            temp.write_bytes(metrics.render())
            os.replace(temp, target)
        except OSError as exc:
            logger.warning("cannot write this worker's metrics to %s: %s", target, exc)
        await asyncio.sleep(EVERY_S)


class _Merged:
    """A collector over already-collected families (for generate_latest)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _labelled(family: Metric, worker: str) -> list[Sample]:
    return [s._replace(labels={**s.labels, "worker": worker}) for s in family.samples]


def render_merged(own: GatewayMetrics, state_dir: Path, now: float | None = None) -> bytes:
    """The control plane's series and every live worker's, labelled by ``worker``."""
    now = time.time() if now is None else now
    merged: dict[str, Metric] = {}

    def add(families: Iterable[Metric], worker: str) -> None:
        for family in families:
            into = merged.get(family.name)
            if into is None:
                into = Metric(family.name, family.documentation, family.type, family.unit)
                merged[family.name] = into
            elif into.type != family.type:
                continue  # a worker of another version: never mix kinds under one name
            into.samples.extend(_labelled(family, worker))

    add(own.registry.collect(), "control")
    folder = metrics_dir(state_dir)
    for path in sorted(folder.glob("metrics-*.prom")) if folder.is_dir() else []:
        worker = path.stem.removeprefix("metrics-")
        with contextlib.suppress(OSError, ValueError):
            if now - path.stat().st_mtime > STALE_S:
                continue
            add(text_string_to_metric_families(path.read_text(encoding="utf-8")), worker)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(merged.values())))
    return generate_latest(registry)
