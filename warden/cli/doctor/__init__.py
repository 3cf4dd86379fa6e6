"""``warden doctor``: checks a gateway's set-up; a pass/fail list, each failure with its fix.

What it checks, in order (a check that needs the config is skipped when it does not load):

- the config file loads (every problem listed), and what it switches off (identity off,
  the test-only routing block);
- the interception CA: files present and readable, the key file 0600, not expired (a
  warning within 30 days), name-constrained (a warning if not) and covering the catalog;
  the other secret files (audit signing key, admin token, state database) 0600;
- the proxy and control-plane ports: free, or held by a running gateway (its ``/healthz``
  answers), else which port is taken and how to change it;
- each identity provider: its client secret is in the environment, OIDC discovery is
  reachable and names the configured issuer, the JWKS parses and has a key for the
  configured algorithms, and the clock agrees with the IdP's HTTP ``Date`` (more than
  30 s apart fails: tokens would be refused as not yet valid or expired);
- the syslog collector: TCP and TLS connect (TLS verified against ``ca_file``); UDP has no
  handshake, so a test message is sent and the collector's side has to be looked at;
- free disk space where the state, audit database and spool live (a warning under
  1 GiB, a failure under 100 MiB) and the state folder's mode (0700).

`run_checks` never raises for a broken set-up: every problem is a `CheckResult`. It reads
the environment and the time only through its ``env`` and ``clock`` arguments, so tests can
drive both. Network checks use short timeouts; the whole run takes a few seconds even when
every peer is down. Nothing is written, except the one UDP test message.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import errno
import json
import os
import shutil
import socket
import ssl
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final, Literal, TextIO
from urllib.parse import urlsplit

import httpx

from warden import __version__
from warden.config import Config, ListenAddress
from warden.identity_config import IdentityProvider
from warden.providers.catalog import Catalog
from warden.validation import Problem, validate_all

__all__ = [
    "CheckResult",
    "exit_code",
    "render",
    "render_json",
    "run",
    "run_checks",
]

Clock = Callable[[], datetime.datetime]
Status = Literal["pass", "warn", "fail"]

#: A CA that ends within this time is reported (renew before devices start refusing it).
CA_EXPIRY_WARNING: Final = datetime.timedelta(days=30)
#: Clock difference to an IdP beyond which tokens fail verification. JWT checks allow
#: 60 s of leeway; half of it keeps a margin for the IdP's own skew.
MAX_CLOCK_SKEW_S: Final = 30.0
DISK_WARN_BYTES: Final = 1024**3  # 1 GiB
DISK_FAIL_BYTES: Final = 100 * 1024**2  # 100 MiB
NETWORK_TIMEOUT_S: Final = 3.0

_CA_KEY: Final = "mitmproxy-ca.pem"
_CA_CERT: Final = "mitmproxy-ca-cert.pem"
_SYSTEMD_ENV: Final = "/etc/egress-warden/env"


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report: ``ok`` false is a failure; ``warning`` marks an ok worth a look."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    @property
    def status(self) -> Status:
        if not self.ok:
            return "fail"
        return "warn" if self.warning else "pass"


def _pass(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def _warn(name: str, detail: str, fix: str | None = None) -> CheckResult:
    return CheckResult(name, True, detail, fix, warning=True)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def run_checks(
    config_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock = _utc_now,
    timeout: float = NETWORK_TIMEOUT_S,
) -> list[CheckResult]:
    """Every check for the gateway configured by ``config_path``; see the module docstring."""
    environ = dict(os.environ) if env is None else dict(env)
    results: list[CheckResult] = []
    checked = validate_all(config_path, environ)
    config = checked.config
    if config is None:
        results.append(_config_failure(config_path, checked.problems, "The other checks need"))
        return results
    if checked.problems:
        results.append(_config_failure(config_path, checked.problems, "The gateway needs"))
    results.extend(_config_checks(config, config_path, clean=not checked.problems))
    catalog_domains = _catalog_domains(config, checked.catalog)
    results.extend(_ca_checks(config, clock, catalog_domains))
    results.extend(_secret_file_checks(config))
    results.extend(_port_checks(config, timeout))
    for idp in config.identity.identity_providers:
        results.extend(_idp_checks(idp, environ, clock, timeout))
    results.extend(_syslog_checks(config, clock, timeout))
    results.extend(_disk_checks(config))
    results.extend(_state_dir_checks(config))
    return results


# --- config -------------------------------------------------------------------------


def _config_failure(path: Path, problems: tuple[Problem, ...], what: str) -> CheckResult:
    return _fail(
        "config",
        f"{path}: {len(problems)} problem(s) in it or the files it names:\n"
        + "\n".join(f"- {p}" for p in problems),
        "fix each entry listed (file, key, cause, fix; the annotated example is "
        f"packaging/warden.yaml), then run `warden doctor` again. {what}"
        " a config that loads.",
    )


def _config_checks(config: Config, path: Path, *, clean: bool) -> Iterator[CheckResult]:
    if clean:
        yield _pass("config", f"{path} loads; state folder {config.state_dir}")
    if config.unsafe_testing is not None:
        # The config loads only with the consent variable set, so this is the test bed or
        # the demo on purpose: a warning there, and the fix for anyone who copied it.
        yield _warn(
            "config: unsafe_testing",
            "the test-bed block `unsafe_testing` is present: LLM traffic goes to a loopback "
            "test server, not to the providers (right for the demo, never for production)",
            "remove `unsafe_testing` from the config (and WARDEN_UNSAFE_TESTING from the "
            "environment); it is for the test suite only",
        )
    if config.identity.mode == "off":
        yield _warn(
            "config: identity",
            "identity.mode is 'off': flows are recorded but not bound to a person",
            "configure identity_providers and tenants and remove `mode: off` "
            "(docs/admin-guide.md, 'Identity providers')",
        )
    elif not config.identity.identity_providers:
        yield _warn(
            "config: identity",
            "identity is enforced but no identity provider is configured: nobody can sign in",
            "add identity.identity_providers and identity.tenants (docs/admin-guide.md)",
        )


def _catalog_domains(config: Config, catalog: Catalog | None) -> tuple[str, ...] | None:
    """The DNS subtrees the CA must permit (catalog + extra hosts + portal name), or None
    when the catalog is not valid (validate_all reported why)."""
    if catalog is None:
        return None
    names = list(catalog.name_constraint_domains())
    public = config.identity.portal.public_url
    if public is not None and public.startswith("https://"):
        host = urlsplit(public).hostname or ""
        if host and not _is_ip(host):
            names.append(host.lower())
    return tuple(names)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- the CA ---------------------------------------------------------------------------


def _ca_checks(
    config: Config, clock: Clock, needed: tuple[str, ...] | None
) -> Iterator[CheckResult]:
    from cryptography import x509

    from warden.certs import CAError, load_ca
    from warden.certs.names import read_constraints

    key_file = config.ca_dir / _CA_KEY
    cert_file = config.ca_dir / _CA_CERT
    if not key_file.exists() and not cert_file.exists():
        yield _warn(
            "CA",
            f"no interception CA in {config.ca_dir} yet",
            "`warden run` creates it at first start; run `warden ca init` now if you want "
            "to distribute the certificate before go-live",
        )
        return
    try:
        mode = key_file.stat().st_mode
        raw = key_file.read_bytes()
    except OSError as exc:
        yield _fail(
            "CA key file",
            f"{key_file}: {exc.strerror}",
            "run the doctor as the gateway's user (or root); restore the file from "
            "archive/ or a backup if it is gone",
        )
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        yield _fail(
            "CA key file",
            f"{key_file} is mode {stat.S_IMODE(mode):04o}: group or others may read the "
            "CA private key",
            f"chmod 600 {key_file}; if someone else may have read it, rotate the CA "
            "(`warden ca rotate`) and redistribute the certificate",
        )
    else:
        yield _pass("CA key file", f"{key_file} is 0600")
    try:
        cert = x509.load_pem_x509_certificates(raw)[0]
    except ValueError:
        yield _fail(
            "CA certificate",
            f"{key_file} holds no readable certificate",
            "restore it from archive/ or a backup, or `warden ca init --force` for a new CA",
        )
        return
    try:
        load_ca(config.ca_dir)
    except CAError as exc:
        if "accessible to group or others" not in exc.message:  # reported above
            yield _fail("CA files", exc.message, exc.fix)
    else:
        yield _pass("CA files", f"key and certificate in {config.ca_dir} belong together")
    now = clock()
    left = cert.not_valid_after_utc - now
    ends = cert.not_valid_after_utc.strftime("%Y-%m-%d")
    if left <= datetime.timedelta(0):
        yield _fail(
            "CA expiry",
            f"the CA expired on {ends}: every intercepted connection fails",
            "`warden ca rotate`, distribute the new certificate, restart the gateway",
        )
    elif cert.not_valid_before_utc > now:
        yield _fail(
            "CA expiry",
            f"the CA is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
            "this host's clock is behind",
            "sync the clock (timedatectl set-ntp true; chronyc tracking)",
        )
    elif left < CA_EXPIRY_WARNING:
        yield _warn(
            "CA expiry",
            f"the CA expires on {ends}, in {left.days} day(s)",
            "`warden ca rotate` and distribute the new certificate before then (devices "
            "need both during the change-over)",
        )
    else:
        yield _pass("CA expiry", f"valid until {ends} ({left.days} days)")
    permitted = read_constraints(cert)
    if permitted is None:
        yield _warn(
            "CA name constraints",
            "the CA is not name-constrained: a leaked key could impersonate any site",
            "set ca.name_constraints: true and run `warden ca rotate` (then redistribute)",
        )
        return
    missing = [n for n in needed or () if not _permitted(n, permitted)]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        yield _warn(
            "CA name constraints",
            f"the CA does not permit {shown}: interception of these names will fail",
            "run `warden ca rotate` (it applies the current catalog and portal name), "
            "then redistribute the certificate",
        )
    else:
        yield _pass("CA name constraints", f"limited to {len(permitted)} catalog domain(s), no IPs")


def _permitted(name: str, subtrees: tuple[str, ...]) -> bool:
    return any(name == s or name.endswith("." + s) for s in subtrees)


def _secret_file_checks(config: Config) -> Iterator[CheckResult]:
    files = (
        config.audit_dir / "audit-signing.key",
        config.state_dir / "admin-token",
        config.state_db,
        config.state_dir / "portal" / "portal-key.pem",
    )
    loose = []
    for path in files:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # not created yet, or another check reports the folder
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            loose.append(f"{path} ({stat.S_IMODE(mode):04o})")
    if loose:
        yield _fail(
            "secret files",
            "readable by group or others: " + ", ".join(loose),
            "chmod 600 " + " ".join(p.split(" (")[0] for p in loose),
        )
    else:
        yield _pass("secret files", "audit signing key, admin token and state database are 0600")


# --- ports ----------------------------------------------------------------------------


def _port_checks(config: Config, timeout: float) -> Iterator[CheckResult]:
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
            yield _pass(name, f"{where} is free")
        elif state == errno.EADDRINUSE and running is not None:
            yield _pass(name, f"{where} is held by the running gateway ({running})")
        elif state == errno.EADDRINUSE:
            yield _fail(
                name,
                f"{where} is in use by another program (no warden /healthz answers there)",
                f"stop that program (`ss -ltnp 'sport = :{listen.port}'` names it) or "
                f"change {key}.port",
            )
        elif state == errno.EACCES:
            yield _fail(
                name,
                f"{where}: permission denied (ports below 1024 need a privilege)",
                f"use a port above 1024 in {key}.port, or grant CAP_NET_BIND_SERVICE "
                "(systemd: AmbientCapabilities= and CapabilityBoundingSet=)",
            )
        else:
            yield _fail(
                name,
                f"{where}: {os.strerror(state)}",
                f"set {key}.host to an address of this machine (or 0.0.0.0)",
            )
    if refusing:
        yield _fail(
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


# --- identity providers ---------------------------------------------------------------


def _idp_checks(
    idp: IdentityProvider, env: Mapping[str, str], clock: Clock, timeout: float
) -> Iterator[CheckResult]:
    from warden.identity.jwks import JwksError, check_jwks_uri, parse_jwks
    from warden.identity.oidc import Discovery, IdpRefused

    prefix = f"IdP {idp.id}"
    if env.get(idp.client_secret_env):
        yield _pass(f"{prefix}: client secret", f"{idp.client_secret_env} is set")
    else:
        yield _fail(
            f"{prefix}: client secret",
            f"the environment has no {idp.client_secret_env} (the portal client's secret)",
            f"put {idp.client_secret_env}=<secret> in {_SYSTEMD_ENV} (mode 0600; systemd "
            "reads it as EnvironmentFile) or export it before `warden run`. To check with the "
            f"service's environment: sudo sh -c 'set -a; . {_SYSTEMD_ENV}; warden doctor'",
        )
    url = idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        before = clock()
        try:
            r = client.get(url)
        except httpx.HTTPError as exc:
            yield _fail(
                f"{prefix}: discovery",
                f"{url} is unreachable ({type(exc).__name__}: {exc})",
                "check that this host can reach the IdP (DNS, firewall, an outbound proxy "
                "the gateway must use), and that identity_providers.issuer is right",
            )
            return
        after = clock()
        yield from _clock_skew(prefix, r, before, after)
        if r.status_code != 200:
            yield _fail(
                f"{prefix}: discovery",
                f"{url} answered HTTP {r.status_code}",
                "check identity_providers.issuer: it must be the issuer exactly as the "
                "IdP's discovery document names it",
            )
            return
        try:
            doc = r.json()
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            discovery = Discovery.parse(doc, idp.issuer)
        except (ValueError, IdpRefused) as exc:
            yield _fail(
                f"{prefix}: discovery",
                f"{url}: {getattr(exc, 'description', None) or exc}",
                "set identity_providers.issuer to the `issuer` value of the discovery "
                "document, exactly (trailing slash included)",
            )
            return
        yield _pass(f"{prefix}: discovery", f"{url} names issuer {idp.issuer}")
        if idp.device_client_id and not discovery.device_authorization_endpoint:
            yield _warn(
                f"{prefix}: device login",
                "device_client_id is set but the IdP announces no device authorization "
                "endpoint: `warden login` will not work",
                "enable the device authorization grant at the IdP, or remove device_client_id",
            )
        try:
            jwks_uri = check_jwks_uri(discovery.jwks_uri)
            jr = client.get(jwks_uri)
            if jr.status_code != 200:
                yield _fail(
                    f"{prefix}: JWKS",
                    f"{jwks_uri} answered HTTP {jr.status_code}",
                    "check the IdP: its discovery document names a key set it does not serve",
                )
                return
            keys = parse_jwks(jr.content, source=jwks_uri)
        except httpx.HTTPError as exc:
            yield _fail(
                f"{prefix}: JWKS",
                f"{discovery.jwks_uri} is unreachable ({type(exc).__name__})",
                "allow this host to reach the IdP's jwks_uri (it may be on another host name)",
            )
            return
        except JwksError as exc:
            yield _fail(f"{prefix}: JWKS", str(exc), exc.fix)
            return
    wanted = set(idp.algorithms)
    if idp.service_tokens is not None:
        wanted |= set(idp.service_tokens.algorithms)
    usable = sorted(a for a in wanted if any(k.allows(a) for k in keys.values()))
    if not usable:
        yield _fail(
            f"{prefix}: JWKS",
            f"{len(keys)} key(s), none usable for {', '.join(sorted(wanted))}: tokens "
            "cannot be verified",
            "set identity_providers.algorithms to what the IdP signs with (see the `alg` "
            "or `kty` of its keys)",
        )
    else:
        yield _pass(
            f"{prefix}: JWKS", f"{len(keys)} signing key(s), usable for {', '.join(usable)}"
        )


def _clock_skew(
    prefix: str, response: httpx.Response, before: datetime.datetime, after: datetime.datetime
) -> Iterator[CheckResult]:
    name = f"{prefix}: clock"
    header = response.headers.get("date")
    try:
        theirs = email.utils.parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        theirs = None
    if theirs is None:
        yield _warn(name, "the IdP sent no usable Date header; clock skew not checked")
        return
    if theirs.tzinfo is None:
        theirs = theirs.replace(tzinfo=datetime.UTC)
    ours = before + (after - before) / 2
    skew = (ours - theirs).total_seconds()
    # The header has whole seconds: up to 1 s of the difference is rounding.
    if abs(skew) > MAX_CLOCK_SKEW_S + 1:
        direction = "ahead of" if skew > 0 else "behind"
        yield _fail(
            name,
            f"this host's clock is {abs(skew):.0f} s {direction} the IdP's (more than "
            f"{MAX_CLOCK_SKEW_S:.0f} s): tokens will be refused as expired or not yet valid",
            "sync the clock with NTP (timedatectl set-ntp true; chronyc tracking shows "
            "the offset); if this host is right, tell the IdP's operators",
        )
    else:
        yield _pass(name, f"within {max(abs(skew), 1):.0f} s of the IdP's clock")


# --- syslog ---------------------------------------------------------------------------


def _syslog_checks(config: Config, clock: Clock, timeout: float) -> Iterator[CheckResult]:
    s = config.audit.syslog
    if s is None:
        yield _pass("syslog", "not configured: records stay in the audit database only")
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
            yield _fail(
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
                yield _pass(
                    "syslog", f"{where}: TLS handshake ok ({version}), certificate verified"
                )
            else:
                yield _pass("syslog", f"{where}: TCP connection accepted")
    except ssl.SSLCertVerificationError as exc:
        yield _fail(
            "syslog",
            f"{where}: the collector's certificate does not verify ({exc.verify_message})",
            "set audit.syslog.ca_file to the CA that signed the collector's certificate and "
            "server_name to a name in it",
        )
    except (OSError, ssl.SSLError) as exc:
        yield _fail(
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
        yield _fail(
            "syslog",
            f"{where}: cannot send ({exc.strerror or exc})",
            "check audit.syslog.host resolves from this machine and the route to it",
        )
        return
    yield _warn(
        "syslog",
        f"{where}: UDP cannot be checked (no handshake, no acknowledgement); sent a test "
        "message with MSGID doctor",
        "look for it at the collector; prefer transport tcp or tls (UDP loses records "
        "silently when the collector or the network drops them)",
    )


# --- disk and folders -----------------------------------------------------------------


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _disk_checks(config: Config) -> Iterator[CheckResult]:
    seen: set[int] = set()
    for label, path in (("state", config.state_dir), ("audit and spool", config.audit_dir)):
        base = _existing(path)
        try:
            device = base.stat().st_dev
            usage = shutil.disk_usage(base)
        except OSError as exc:
            yield _fail(f"disk ({label})", f"{base}: {exc.strerror}", "check the path exists")
            continue
        if device in seen:
            continue
        seen.add(device)
        free = usage.free
        shown = f"{free / 1024**3:.1f} GiB free on the file system of {base}"
        fix = f"free space or move state_dir to a larger volume (the {label} folder)"
        if free < DISK_FAIL_BYTES:
            yield _fail(f"disk ({label})", shown + ": under 100 MiB", fix)
        elif free < DISK_WARN_BYTES:
            yield _warn(f"disk ({label})", shown + ": under 1 GiB", fix)
        else:
            spool = config.audit.syslog.spool_max_mb if config.audit.syslog else 0
            if spool * 1024**2 > free:
                yield _warn(
                    f"disk ({label})",
                    shown + f": less than the syslog spool may take ({spool} MB)",
                    "lower audit.syslog.spool_max_mb or free space",
                )
            else:
                yield _pass(f"disk ({label})", shown)


def _state_dir_checks(config: Config) -> Iterator[CheckResult]:
    state = config.state_dir
    if not state.exists():
        yield _warn(
            "state folder",
            f"{state} does not exist yet",
            "`warden run` creates it (0700) at first start; under systemd, "
            "StateDirectory= makes it",
        )
        return
    loose = []
    for path in (state, config.ca_dir, config.audit_dir):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            loose.append((path, stat.S_IMODE(mode)))
    if loose:
        yield _fail(
            "state folder",
            "; ".join(f"{p} is {m:04o}" for p, m in loose)
            + ": others may read the CA key, sessions and audit records",
            "chmod 700 "
            + " ".join(str(p) for p, _ in loose)
            + " (systemd: StateDirectoryMode=0700)",
        )
    elif not os.access(state, os.W_OK):
        yield _warn(
            "state folder",
            f"{state} is 0700 but not writable by this user (uid {os.getuid()})",
            "run the doctor as the gateway's user or root",
        )
    else:
        yield _pass("state folder", f"{state} is 0700")


# --- output ---------------------------------------------------------------------------

_MARK: Final[Mapping[Status, str]] = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
_COLOUR: Final[Mapping[Status, str]] = {"pass": "32", "warn": "33", "fail": "31"}


def render(results: list[CheckResult], *, colour: bool = False) -> str:
    """The report as text: one line per check, detail and fix indented under failures."""
    lines = [f"Egress Warden doctor (warden {__version__})", ""]
    for r in results:
        mark = _MARK[r.status]
        if colour:
            mark = f"\x1b[{_COLOUR[r.status]}m{mark}\x1b[0m"
        detail = r.detail.splitlines() or [""]
        lines.append(f"[{mark}] {r.name}: {detail[0]}")
        lines.extend(f"         {more}" for more in detail[1:])
        if r.fix and r.status != "pass":
            lines.append(f"         fix: {r.fix}")
    failed = sum(1 for r in results if r.status == "fail")
    warned = sum(1 for r in results if r.status == "warn")
    lines.append("")
    if failed:
        lines.append(f"{failed} check(s) failed, {warned} warning(s). Fix the failures above.")
    else:
        lines.append(f"All {len(results)} checks passed ({warned} warning(s)).")
    return "\n".join(lines) + "\n"


def render_json(results: list[CheckResult]) -> str:
    """The report as JSON (for automation): a list of {name, status, ok, detail, fix}."""
    return json.dumps([{"status": r.status, **dataclasses.asdict(r)} for r in results], indent=2)


def exit_code(results: list[CheckResult]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 0 if all(r.ok for r in results) else 1


def run(
    config_path: Path, *, out: TextIO, as_json: bool = False, colour: bool | None = None
) -> int:
    """What ``warden doctor`` does: check, print, return the exit code."""
    results = run_checks(config_path)
    if as_json:
        out.write(render_json(results) + "\n")
    else:
        use_colour = out.isatty() and "NO_COLOR" not in os.environ if colour is None else colour
        out.write(render(results, colour=use_colour))
    return exit_code(results)
