"""`warden doctor` checks every instance the PAC lists: a running warden passes, a dead
address and a port that is not a warden proxy fail with a fix."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.peers import WardenProcess, free_port
from warden.cli.doctor.fleet import instance_checks
from warden.config import parse_config


class _NotAWarden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a corporate web proxy</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_proxy() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAWarden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_every_listed_instance_is_checked_in_order(tmp_path: Path, other_proxy: int) -> None:
    (tmp_path / "w").mkdir()
    gateway = WardenProcess(tmp_path / "w", {})
    gateway.start()
    try:
        dead = f"127.0.0.1:{free_port()}"
        config = parse_config(
            {
                "proxy": {
                    "instances": [
                        f"127.0.0.1:{gateway.proxy_port}",
                        dead,
                        f"127.0.0.1:{other_proxy}",
                    ]
                }
            },
            "test",
            tmp_path,
            {},
        )
        results = list(instance_checks(config, timeout=5))
    finally:
        gateway.stop()
    assert [r.name for r in results] == ["instance 1", "instance 2", "instance 3"]
    good, gone, foreign = results
    assert good.ok and "Egress Warden proxy" in good.detail, good
    assert not gone.ok and dead in gone.detail and gone.fix and "proxy.instances" in gone.fix
    assert not foreign.ok and "not as an Egress Warden proxy" in foreign.detail
