"""Starting the benchmarks' baseline: a bare mitmproxy (``bare_mitmproxy.py``) on a free
port, routed to the upstream, with the gateway's CA so clients trust both alike."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.peers import Peer, free_port, port_open, wait_until

HERE = Path(__file__).resolve().parent


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
