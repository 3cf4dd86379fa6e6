"""Starting the benchmarks' baseline: a bare mitmproxy (``bare_mitmproxy.py``) on a free
port, routed to the upstream, with the gateway's CA so clients trust both alike."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.peers import (
    UNSAFE_ENV,
    Aimock,
    Peer,
    WardenProcess,
    free_port,
    port_open,
    wait_until,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def start_bare_mitmproxy(upstream_port: int, ca_dir: Path, log: Path) -> tuple[Peer, int]:
    """The started bare mitmproxy and its port (it listens when this returns)."""
    port = free_port()
    bare = Peer(
        "bare",
        [
            sys.executable,
            str(HERE / "bare_mitmproxy.py"),
            str(port),
            str(upstream_port),
            str(ca_dir),
        ],
        log_path=log,
    )
    bare.start()
    wait_until(lambda: port_open(port), 30, "bare mitmproxy", bare.proc)
    return bare, port


def start_test_bed(work: Path, peers: list[Peer]) -> tuple[Aimock, WardenProcess, Peer, int]:
    """The benchmarks' test bed in ``work``: aimock, a ``warden run`` whose catalog hosts
    are routed to it (in ``work/w``), and a bare mitmproxy with that gateway's CA, and the
    bare one's port. Each is added to ``peers`` once started: the caller stops them."""
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    aimock.start()
    peers.append(aimock)
    (work / "w").mkdir()
    warden = WardenProcess(
        work / "w", {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, UNSAFE_ENV
    )
    warden.start()
    peers.append(warden)
    bare, bare_port = start_bare_mitmproxy(aimock.port, warden.ca_cert.parent, work / "bare.log")
    peers.append(bare)
    return aimock, warden, bare, bare_port
