"""The proxy and control-plane ports: free, or held by a running gateway, else what to change."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator

import httpx

from warden.config import Config, ListenAddress

from .results import CheckResult, failure, passed


def port_checks(config: Config, timeout: float) -> Iterator[CheckResult]:
    control = config.control.listen
    proxy = config.proxy.listen
    control_state = _bind_state(control)
    running: str | None = None
    refusing = ""
    if control_state == errno.EADDRINUSE:
        running, refusing = _gateway_health(config, timeout) or (None, "")
    for name, listen, key in (
        ("control port", control, "control.listen"),
        ("proxy port", proxy, "proxy.listen"),
    ):
        state = control_state if listen is control else _bind_state(listen)
        where = f"{listen.host}:{listen.port}"
        if state is None:
            yield passed(name, f"{where} is free")
        elif state == errno.EADDRINUSE and running is not None:
            yield passed(name, f"{where} is held by the running gateway ({running})")
        elif state == errno.EADDRINUSE:
            yield failure(
                name,
                f"{where} is in use by another program (no warden /healthz answers there)",
                f"stop that program (`ss -ltnp 'sport = :{listen.port}'` names it) or "
                f"change {key}.port",
            )
        elif state == errno.EACCES:
            yield failure(
                name,
                f"{where}: permission denied (ports below 1024 need a privilege)",
                f"use a port above 1024 in {key}.port, or grant CAP_NET_BIND_SERVICE "
                "(systemd: AmbientCapabilities= and CapabilityBoundingSet=)",
            )
        else:
            yield failure(
                name,
                f"{where}: {os.strerror(state)}",
                f"set {key}.host to an address of this machine (or 0.0.0.0)",
            )
    if refusing:
        yield failure(
            "running gateway",
            f"it answers but refuses flows: {refusing}",
            "read the gateway's log (journalctl -u egress-warden) for the cause; the audit "
            "writer restarts by itself, so a lasting failure is usually a full disk or an "
            "audit database the gateway's user cannot write",
        )


def _bind_state(listen: ListenAddress) -> int | None:
    """None if the address can be bound now, else the errno (EADDRINUSE, EACCES, ...)."""
    host = "127.0.0.1" if listen.host == "localhost" else listen.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option asyncio servers set, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, listen.port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def _connect_host(host: str) -> str:
    if host == "0.0.0.0":  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _gateway_health(config: Config, timeout: float) -> tuple[str, str] | None:
    """``warden <version>`` if a warden control plane answers on the control port, and
    what makes it refuse flows ("" when nothing)."""
    listen = config.control.listen
    host = _connect_host(listen.host)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if config.control.tls is not None else "http"
    try:
        # Only "is this ours?" is asked of our own port; the portal's certificate may
        # come from a CA this shell does not trust, so it is not verified here.
        with httpx.Client(timeout=timeout, verify=False) as client:  # noqa: S501
            r = client.get(f"{scheme}://{shown}:{listen.port}/healthz")
        data = r.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if r.status_code == 200 and data.get("status") == "ok":
        return f"warden {data.get('version', '?')}, running", ""
    if r.status_code == 503 and data.get("status") == "unavailable":
        failing = data.get("failing")
        why = "; ".join(map(str, failing.values())) if isinstance(failing, dict) else "?"
        return f"warden {data.get('version', '?')}, running", why or "?"
    if r.status_code == 503 and data.get("status") == "starting":
        return f"warden {data.get('version', '?')}, starting", str(data.get("waiting") or "?")
    return None
