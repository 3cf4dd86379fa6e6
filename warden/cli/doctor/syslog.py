"""The syslog collector: TCP and TLS connect (TLS verified); UDP gets a test message."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from warden.config import Config

from .results import CheckResult, Clock, failure, passed, warning


def syslog_checks(config: Config, clock: Clock, timeout: float) -> Iterator[CheckResult]:
    s = config.audit.syslog
    if s is None:
        yield passed("syslog", "not configured: records stay in the audit database only")
        return
    where = f"{s.transport}://{s.host}:{s.port}"
    if s.transport == "udp":
        yield from _syslog_udp(config, clock, where)
        return
    context: ssl.SSLContext | None = None
    if s.transport == "tls":
        from warden.audit.syslog_transport import tls_client_context

        assert s.ca_file is not None  # the config requires it for tls
        try:
            context = tls_client_context(
                s.ca_file, client_cert=s.client_cert_file, client_key=s.client_key_file
            )
        except (OSError, ssl.SSLError) as exc:
            yield failure(
                "syslog",
                f"cannot load the TLS files (ca_file {s.ca_file}"
                + (f", client_cert_file {s.client_cert_file}" if s.client_cert_file else "")
                + f"): {exc}",
                "point audit.syslog.ca_file (and the client files) at readable PEM files",
            )
            return
    try:
        with socket.create_connection((s.host, s.port), timeout=timeout) as sock:
            if context is not None:
                with context.wrap_socket(sock, server_hostname=s.server_name or s.host) as tls:
                    version = tls.version()
                yield passed(
                    "syslog", f"{where}: TLS handshake ok ({version}), certificate verified"
                )
            else:
                yield passed("syslog", f"{where}: TCP connection accepted")
    except ssl.SSLCertVerificationError as exc:
        yield failure(
            "syslog",
            f"{where}: the collector's certificate does not verify ({exc.verify_message})",
            "set audit.syslog.ca_file to the CA that signed the collector's certificate and "
            "server_name to a name in it",
        )
    except (OSError, ssl.SSLError) as exc:
        yield failure(
            "syslog",
            f"{where}: cannot connect ({exc.strerror or exc})",
            "check the collector is listening and the firewall allows this host; until "
            f"then records wait in the spool (up to {s.spool_max_mb} MB) and are sent later",
        )


def _syslog_udp(config: Config, clock: Clock, where: str) -> Iterator[CheckResult]:
    from warden.audit.syslog_format import DEFAULT_SD_ID, Facility, Severity, encode_5424

    s = config.audit.syslog
    assert s is not None
    message = encode_5424(
        severity=Severity.INFO,
        facility=Facility[s.facility.upper()],
        timestamp=clock(),
        hostname=socket.gethostname(),
        app_name=s.app_name,
        procid=None,
        msgid="doctor",
        structured_data={DEFAULT_SD_ID: {"event": "doctor.test"}},
        msg=b"egress-warden doctor: test message, no action needed",
    )
    try:
        infos = socket.getaddrinfo(s.host, s.port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, address)
    except OSError as exc:
        yield failure(
            "syslog",
            f"{where}: cannot send ({exc.strerror or exc})",
            "check audit.syslog.host resolves from this machine and the route to it",
        )
        return
    yield warning(
        "syslog",
        f"{where}: UDP cannot be checked (no handshake, no acknowledgement); sent a test "
        "message with MSGID doctor",
        "look for it at the collector; prefer transport tcp or tls (UDP loses records "
        "silently when the collector or the network drops them)",
    )
