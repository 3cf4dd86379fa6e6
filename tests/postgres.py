"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, run unprivileged.

``initdb`` writes a fresh cluster into a temporary folder owned by the ``postgres`` system
user (PostgreSQL refuses to run as root, and the tests do), ``postgres`` listens on a free
loopback port with its unix socket in that folder, password (SCRAM) authentication, and is
stopped by its PID. ``fsync=off``: the cluster is thrown away; crash safety is not tested
here. No mock of the database anywhere.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.peers import free_port, wait_until

USER = "postgres"  # the unprivileged system user of Debian's package
SUPERUSER = "warden_test"


def postgres_bin() -> Path:
    """The newest installed server's bin folder; a clear failure when there is none."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: the state tests need a real server "
            "(apt-get install postgresql; .ci/run installs it)"
        )
    return found[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:  # already unprivileged: run as ourselves
        return argv
    return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--", *argv]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="warden-pg-"))
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam(USER).pw_uid, -1)
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        pwfile.unlink()

    def dsn(self, dbname: str = "postgres") -> str:
        return (
            f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"
            "?connect_timeout=5"
        )

    def start(self) -> None:
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - the child's stdout
        self.proc = subprocess.Popen(
            _as_postgres(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=100",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._accepts, 60, "postgres", self.proc)

    def _accepts(self) -> bool:
        try:
            psycopg.connect(self.dsn(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, close every connection)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def create_database(self) -> str:
        """A fresh, empty database; its DSN."""
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def migrated_database(self, tmp: Path) -> tuple[str, str]:
        """A fresh database brought up to this build as an operator does it, once for the
        fleet before any instance starts (an instance refuses pending steps): ``warden db
        migrate`` with the DSN in its environment. The DSN and what the command printed."""
        from tests.peers import WARDEN  # the gateway under test, as the e2e tests run it
        from warden.gateway.state.postgres import DSN_ENV

        dsn = self.create_database()
        config = tmp / "migrate.yaml"
        config.write_text("state:\n  backend: postgresql\n")
        done = subprocess.run(
            [str(WARDEN), "--config", str(config), "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, DSN_ENV: dsn},
        )
        assert done.returncode == 0, done.stderr
        return dsn, done.stdout

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
