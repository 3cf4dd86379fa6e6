"""Test harness for a real collector: Debian's rsyslogd on loopback, started per test.

`Rsyslog` writes a config into its own folder and runs ``rsyslogd -n -f CONF -i PIDFILE
-C`` with that folder as ``workDirectory``: no ``imuxsock``/``imklog``, no system socket,
nothing of the system's rsyslog is touched (it need not run, and works the same as root or
an unprivileged user). Inputs: ``imudp`` (input name ``udp``), ``imtcp`` (``tcp``) and a
TLS ``imtcp`` (``tls``, gtls driver, anonymous client auth) when TLS files are given.
``mmpstrucdata`` parses STRUCTURED-DATA as rsyslog understood it, and each message is
written twice: a ``jsonmesg`` line to ``messages.jsonl`` and an
``RSYSLOG_SyslogProtocol23Format`` line to ``messages.5424``.

TCP ports come from rsyslog itself (``listenPortFileName``) unless fixed; the UDP port is
picked free beforehand. `make_tls_files` makes a CA and a server certificate with
cryptography. Needs the packages ``rsyslog`` and ``rsyslog-gnutls``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
MISSING = (
    "rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (the tests run a real "
    "collector on loopback)"
)


def available() -> bool:
    """rsyslogd and its GnuTLS driver (package rsyslog-gnutls) are installed."""
    return Path(RSYSLOGD).exists() and any(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"))


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients should trust
    cert: Path  # the collector's certificate
    key: Path
    server_name: str


def make_tls_files(folder: Path, *, ca_name: str = "Warden Test CA") -> TlsFiles:
    """A fresh EC CA and a server certificate for ``collector.test`` and 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server_name = "collector.test"
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(server_name),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key", server_name)
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Rsyslog:
    """One rsyslogd with UDP, TCP and (optionally) TLS inputs on 127.0.0.1."""

    def __init__(
        self,
        folder: Path,
        *,
        tls: TlsFiles | None = None,
        tcp_port: int = 0,
        tls_port: int = 0,
        udp_port: int | None = None,
    ) -> None:
        self.folder = folder
        self.tls = tls
        self.tcp_port = tcp_port
        self.tls_port = tls_port
        self.udp_port = udp_port if udp_port is not None else free_port(socket.SOCK_DGRAM)
        self.jsonl = folder / "messages.jsonl"
        self.syslog_file = folder / "messages.5424"
        self.conf = folder / "rsyslog.conf"
        self.pidfile = folder / "rsyslogd.pid"
        self.log = folder / "rsyslogd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def config(self) -> str:
        work = self.folder / "work"
        work.mkdir(exist_ok=True)
        lines = [
            f'global(workDirectory="{work}" maxMessageSize="256k"',
        ]
        if self.tls:
            lines += [
                f'  defaultNetstreamDriverCAFile="{self.tls.ca}"',
                f'  defaultNetstreamDriverCertFile="{self.tls.cert}"',
                f'  defaultNetstreamDriverKeyFile="{self.tls.key}"',
            ]
        lines += [
            ")",
            'module(load="imudp")',
            'module(load="imtcp" maxSessions="50")',
            'module(load="mmpstrucdata")',
            'template(name="jsonline" type="list") {',
            '  property(name="jsonmesg") constant(value="\\n")',
            "}",
            'ruleset(name="collect") {',
            '  action(type="mmpstrucdata" sd_name.lowercase="off")',
            f'  action(type="omfile" file="{self.jsonl}" template="jsonline")',
            f'  action(type="omfile" file="{self.syslog_file}"'
            ' template="RSYSLOG_SyslogProtocol23Format")',
            "}",
            f'input(type="imudp" name="udp" address="127.0.0.1" port="{self.udp_port}"'
            ' ruleset="collect")',
            f'input(type="imtcp" name="tcp" address="127.0.0.1" port="{self.tcp_port}"'
            f' listenPortFileName="{self.folder / "tcp.port"}" ruleset="collect")',
        ]
        if self.tls:
            lines.append(
                f'input(type="imtcp" name="tls" address="127.0.0.1" port="{self.tls_port}"'
                f' listenPortFileName="{self.folder / "tls.port"}" ruleset="collect"'
                ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")'
            )
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> None:
        for name in ("tcp.port", "tls.port"):
            (self.folder / name).unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)
        self.conf.write_text(self.config())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-C", "-f", str(self.conf), "-i", str(self.pidfile)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
            )
        # rsyslog writes listenPortFileName only for port 0; a fixed port is probed.
        wanted = {"tcp": self.tcp_port} | ({"tls": self.tls_port} if self.tls else {})
        deadline = time.monotonic() + timeout
        while not all(self._listening(name, port) for name, port in wanted.items()):
            if self._proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited with {self._proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rsyslogd did not listen within {timeout} s: {self.output()}")
            time.sleep(0.02)
        if not self.tcp_port:
            self.tcp_port = int((self.folder / "tcp.port").read_text())
        if self.tls and not self.tls_port:
            self.tls_port = int((self.folder / "tls.port").read_text())

    def _listening(self, name: str, port: int) -> bool:
        if port == 0:
            path = self.folder / f"{name}.port"
            return path.exists() and path.read_text().strip().isdigit()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def messages(self) -> list[dict[str, Any]]:
        """Each message as rsyslog's ``jsonmesg`` saw it, in arrival order."""
        if not self.jsonl.exists():
            return []
        out = []
        for line in self.jsonl.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):
                out.append(json.loads(line))
        return out

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll the output until ``count`` messages arrived (returns what is there)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages()
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def __enter__(self) -> Rsyslog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def payload(message: dict[str, Any]) -> dict[str, Any]:
    """The JSON MSG of a collected message (the UTF-8 BOM stripped)."""
    text = str(message["msg"])
    assert text.startswith("\ufeff"), f"MSG has no BOM: {text[:40]!r}"
    return dict(json.loads(text[1:]))


def structured_data(message: dict[str, Any]) -> dict[str, dict[str, str]]:
    """STRUCTURED-DATA as rsyslog's mmpstrucdata parsed it."""
    return dict(message["$!"]["rfc5424-sd"])
