"""`warden login` / `warden logout` on a user's machine: device sign-in through the portal.

Owns the client side of the portal's device login (RFC 8628, the portal's
``/portal/device/start|poll|revoke``): finding the portal, showing the code, polling,
storing the device credential and the gateway's CA under ``$XDG_CONFIG_HOME/egress-warden``
(``~/.config/egress-warden``), and printing the proxy settings to use.

The portal is always reached directly (``trust_env=False``): an ``HTTPS_PROXY`` left in the
environment, perhaps holding an expired credential, must not stand between the user and
sign-in. Time and sleep are injectable (``Clock``) so the polling loop is tested without
waiting.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import json
import os
import shlex
import socket
import ssl
import sys
import time
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes

WELL_KNOWN_URL = "http://warden.internal/.well-known/egress-warden"
DEFAULT_INTERVAL_S = 5.0  # RFC 8628 §3.2: when the server gives no interval
SLOW_DOWN_S = 5.0  # RFC 8628 §3.5: slow_down adds 5 s to this and every later poll
MIN_INTERVAL_S = 1.0
DEFAULT_EXPIRES_S = 600.0
MAX_BACKOFF_S = 60.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CREDENTIALS_FILE = "credentials.json"
CA_FILE = "ca.pem"
BUNDLE_FILE = "ca-bundle.pem"  # the system's CAs plus the gateway's
ENV_FILE_MARKER = "# Egress Warden proxy settings, written by `warden login`"


class LoginError(Exception):
    """A failure the user can act on: the message names the cause and the fix."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Clock:
    """Monotonic time and sleep for the polling loop, wall time for showing expiries."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def with_credential(self, credential: str) -> str:
        return f"http://device:{quote(credential, safe='')}@{self.netloc}"


def parse_proxy_url(raw: str) -> ProxyAddress:
    """``--proxy``: ``http://HOST:PORT`` (a bare ``HOST:PORT`` is read as http)."""
    fix = "give the proxy as http://HOST:PORT, e.g. --proxy http://proxy.example.com:8080"
    text = raw.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme != "http":
        raise LoginError(
            f"bad --proxy URL {raw!r}: the scheme must be http (the gateway is a plain HTTP "
            f"proxy; the traffic to the AI services inside it is still TLS): {fix}",
            2,
        )
    try:
        port = parts.port
    except ValueError:
        raise LoginError(f"bad --proxy URL {raw!r}: the port is not a number: {fix}", 2) from None
    if not parts.hostname or port is None:
        raise LoginError(f"bad --proxy URL {raw!r}: it needs a host and a port: {fix}", 2)
    if parts.username is not None or parts.password is not None:
        raise LoginError(
            f"bad --proxy URL {raw!r}: leave out user and password (`warden login` gets the "
            f"credential for you): {fix}",
            2,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise LoginError(f"bad --proxy URL {raw!r}: a proxy URL has no path or query: {fix}", 2)
    return ProxyAddress(parts.hostname, port)


def normalize_portal_url(raw: str, source: str) -> str:
    """The portal (= control plane) base URL without a trailing slash."""
    text = raw.strip().rstrip("/")
    text = text.removesuffix("/portal")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoginError(
            f"bad portal URL {raw!r} (from {source}): give it as https://HOST[:PORT], "
            "the address of the gateway's control plane",
            2,
        )
    if parts.query or parts.fragment or parts.username is not None:
        raise LoginError(f"bad portal URL {raw!r} (from {source}): no query or user name", 2)
    return text


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- the portal


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    handle: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float  # 0 when the portal gave none
    expires_in: float


@dataclass(frozen=True, slots=True)
class Approval:
    credential: str
    expires_at: float
    email: str
    tenant: str
    department: str
    proxy_url: str | None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _tls_context() -> ssl.SSLContext:
    # The system trust store (OpenSSL's default paths, which honour SSL_CERT_FILE): a portal
    # certificate from the company's CA verifies where IT installed that CA.
    return ssl.create_default_context()


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class PortalClient:
    """The portal's device-login JSON API, reached directly (never through a proxy)."""

    def __init__(
        self,
        portal: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.portal = portal
        self._http = httpx.Client(
            base_url=portal,
            trust_env=False,
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
            follow_redirects=False,
            headers={"User-Agent": "warden-login"},
        )

    def close(self) -> None:
        self._http.close()

    def unreachable(self, exc: httpx.HTTPError) -> LoginError:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return LoginError(
                f"the portal at {self.portal} has a certificate this machine does not trust "
                f"({_reason(exc)}): install the company CA that IT publishes into the system "
                "trust store, or run `SSL_CERT_FILE=/path/to/that-ca.pem warden login ...`"
            )
        return LoginError(
            f"cannot reach the portal at {self.portal} ({_reason(exc)}): check the URL "
            "(--portal or $WARDEN_PORTAL), your network or VPN, and that the gateway is running"
        )

    def _unexpected(self, what: str, response: httpx.Response) -> LoginError:
        if response.status_code == 404:
            return LoginError(
                f"{self.portal} does not serve the Egress Warden portal ({what}: HTTP 404): check "
                "--portal / $WARDEN_PORTAL; it is the gateway's control-plane address"
            )
        return LoginError(
            f"unexpected answer from the portal at {self.portal} ({what}: HTTP "
            f"{response.status_code} {response.text[:200]!r}): try again; if it persists, tell IT"
        )

    def ca_pem(self) -> tuple[bytes, str]:
        """The gateway's CA certificate (PEM) and its SHA-256 fingerprint."""
        try:
            response = self._http.get("/ca.pem")
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code != 200:
            raise self._unexpected("GET /ca.pem", response)
        try:
            cert = x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise LoginError(
                f"{self.portal}/ca.pem is not a PEM certificate: check --portal / $WARDEN_PORTAL"
            ) from None
        return response.content, cert.fingerprint(hashes.SHA256()).hex(":").upper()

    def start(self, idp: str | None, label: str) -> DeviceGrant:
        body: dict[str, str] = {"label": label}
        if idp:
            body["idp"] = idp
        try:
            response = self._http.post("/portal/device/start", json=body)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        data = _json_object(response) or {}
        error = _text(data.get("error"))
        if response.status_code == 503 and error == "idp_unreachable":
            raise LoginError(
                f"the portal at {self.portal} is up, but it cannot reach the identity provider "
                "right now, so no one can sign in: try again in a few minutes; if it persists, "
                "tell IT (existing sign-ins keep working)"
            )
        if response.status_code == 400 and error == "choose_idp":
            idps = ", ".join(str(i) for i in data.get("idps") or []) or "none configured"
            problem = f"unknown --idp {idp!r}" if idp else "this portal has several sign-in options"
            raise LoginError(f"{problem}: pass --idp ID, one of: {idps}", 2)
        if response.status_code == 502 and error:
            raise LoginError(
                f"the identity provider refused to start a device sign-in ({error}: "
                f"{_text(data.get('message'))}): the device grant may not be enabled for the "
                "gateway's CLI client; tell IT"
            )
        if response.status_code != 200:
            raise self._unexpected("POST /portal/device/start", response)
        handle, user_code = _text(data.get("handle")), _text(data.get("user_code"))
        uri = _text(data.get("verification_uri"))
        if not (handle and user_code and uri):
            raise self._unexpected("POST /portal/device/start", response)
        return DeviceGrant(
            handle,
            user_code,
            uri,
            _text(data.get("verification_uri_complete")) or None,
            _number(data.get("interval")) or 0.0,
            _number(data.get("expires_in")) or DEFAULT_EXPIRES_S,
        )

    def poll(self, handle: str) -> tuple[int, dict[str, Any] | None]:
        """One poll; network errors propagate as ``httpx.TransportError``."""
        response = self._http.post("/portal/device/poll", json={"handle": handle})
        return response.status_code, _json_object(response)

    def revoke(self, credential: str) -> bool:
        """True when revoked, False when the portal does not know the credential."""
        try:
            response = self._http.post("/portal/device/revoke", json={"credential": credential})
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code == 200:
            return True
        if response.status_code == 404 and (_json_object(response) or {}).get("revoked") is False:
            return False
        raise self._unexpected("POST /portal/device/revoke", response)


def discover_portal(
    proxy: ProxyAddress, *, transport: httpx.BaseTransport | None = None
) -> tuple[str, str | None]:
    """Ask the gateway, through the proxy, where its portal is: (portal, proxy it names)."""
    fix = (
        "pass --portal URL or set WARDEN_PORTAL (the gateway's control-plane address; "
        "IT can tell you)"
    )
    try:
        with httpx.Client(
            proxy=proxy.url, trust_env=False, timeout=TIMEOUT, transport=transport
        ) as client:
            response = client.get(WELL_KNOWN_URL)
    except (httpx.ProxyError, httpx.ConnectError, httpx.TimeoutException) as exc:
        raise LoginError(
            f"cannot reach the proxy at {proxy.netloc} ({_reason(exc)}): check --proxy, your "
            "network or VPN; or skip the lookup: " + fix
        ) from None
    except httpx.HTTPError as exc:
        raise LoginError(
            f"asking the proxy at {proxy.netloc} for its portal failed ({_reason(exc)}): {fix}"
        ) from None
    data = _json_object(response) if response.status_code == 200 else None
    portal = _text((data or {}).get("portal"))
    if not portal:
        raise LoginError(
            f"the proxy at {proxy.netloc} did not say where its sign-in portal is (HTTP "
            f"{response.status_code} for {WELL_KNOWN_URL}; an older gateway, or not an Egress "
            f"Warden proxy): {fix}"
        )
    return normalize_portal_url(portal, "the proxy"), _text((data or {}).get("proxy")) or None


# --------------------------------------------------------------------------- polling


def _expired_message(grant: DeviceGrant, network: str | None) -> str:
    minutes = max(1, round(grant.expires_in / 60))
    if network:
        return (
            f"the portal could not be reached ({network}) until the sign-in code expired: "
            "check your network or VPN and run `warden login` again"
        )
    return (
        f"the sign-in code expired before it was approved (it is valid for {minutes} min, and "
        "a gateway restart also ends it): run `warden login` again and approve it in the browser"
    )


def wait_for_approval(
    client: PortalClient,
    grant: DeviceGrant,
    clock: Clock,
    notify: Callable[[str], None] = lambda _msg: None,
) -> Approval:
    """Poll until the user approves (the credential), denies, or the grant expires.

    Waits ``interval`` before each poll (5 s when the portal gave none); ``slow_down`` adds
    5 s for this and every later poll, or takes the portal's new interval if that is larger;
    ``pending`` takes the interval the portal names. Network errors and 5xx answers back off
    (doubling, at most 60 s) until the grant's ``expires_in`` has passed.
    """
    interval = grant.interval or DEFAULT_INTERVAL_S
    deadline = clock.monotonic() + grant.expires_in
    wait = interval
    failures = 0
    network: str | None = None
    while True:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise LoginError(_expired_message(grant, network))
        clock.sleep(min(wait, remaining))
        if clock.monotonic() >= deadline:
            raise LoginError(_expired_message(grant, network))
        try:
            status_code, body = client.poll(grant.handle)
        except httpx.TransportError as exc:
            status_code, body, network = 0, None, _reason(exc)
        status = _text((body or {}).get("status"))
        if status_code == 0 or (status_code >= 500 and not status):
            failures += 1
            network = network if status_code == 0 else f"HTTP {status_code} from the portal"
            wait = min(interval * 2**failures, MAX_BACKOFF_S)
            notify(f"the portal did not answer ({network}); trying again in {wait:.0f} s")
            continue
        if failures:
            notify("the portal answers again")
        failures, network = 0, None
        server_interval = _number((body or {}).get("interval"))
        message = _text((body or {}).get("message"))
        if status == "pending":
            if server_interval:
                interval = max(server_interval, MIN_INTERVAL_S)
            wait = interval
        elif status == "slow_down":
            interval = max(server_interval or 0.0, interval + SLOW_DOWN_S)
            wait = interval
        elif status == "ok" and body is not None:
            return _approval(body, client)
        elif status == "denied":
            raise LoginError(
                "the sign-in was denied"
                + (f" ({message})" if message else "")
                + ": if you did not cancel it yourself, your account may not be allowed to use "
                "AI services through the gateway; ask IT. Otherwise run `warden login` again"
            )
        elif status == "expired":
            raise LoginError(_expired_message(grant, None))
        else:
            raise LoginError(
                f"unexpected answer while waiting for approval (HTTP {status_code}, "
                f"status {status or '-'!r}): run `warden login` again; if it persists, tell IT"
            )


def _approval(body: dict[str, Any], client: PortalClient) -> Approval:
    credential = _text(body.get("credential"))
    if not credential:
        raise LoginError(
            f"the portal at {client.portal} approved the sign-in but sent no credential: tell IT"
        )
    user = body.get("user")
    if not isinstance(user, dict):
        user = {}
    return Approval(
        credential=credential,
        expires_at=_number(body.get("expires_at")) or 0.0,
        email=_text(user.get("email")),
        tenant=_text(user.get("tenant")),
        department=_text(user.get("department")),
        proxy_url=_text(body.get("proxy_url")) or None,
    )


# --------------------------------------------------------------------------- storage


def config_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/egress-warden``, else ``~/.config/egress-warden``."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return Path(xdg) / "egress-warden"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".config" / "egress-warden"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # our folder: tighten it if it was made looser before


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` atomically; the file is created with ``mode`` (never wider first)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have narrowed it; never widens
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def env_lines(proxy_with_credential: str, ca_file: Path) -> list[str]:
    """SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE *replace* a client's trust
    store (Python, requests, curl), so they name a bundle of the system's CAs plus the
    gateway's: sites the proxy passes through untouched keep verifying. curl needs its own
    variable: Debian's curl has a compiled-in CA file and ignores SSL_CERT_FILE.
    NODE_EXTRA_CA_CERTS adds to Node's own."""
    bundle = shlex.quote(str(ca_file.with_name(BUNDLE_FILE)))
    ca = shlex.quote(str(ca_file))
    return [
        f"export HTTPS_PROXY={shlex.quote(proxy_with_credential)}",
        f"export SSL_CERT_FILE={bundle}",
        f"export REQUESTS_CA_BUNDLE={bundle}",
        f"export CURL_CA_BUNDLE={bundle}",
        f"export NODE_EXTRA_CA_CERTS={ca}",
    ]


def system_ca_bundle() -> bytes:
    """The machine's trusted CAs (Debian, RHEL, macOS via certifi ...), or nothing."""
    import ssl

    candidates = [
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""


def load_stored(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LoginError(
            f"{path} cannot be read as a stored sign-in ({exc}): delete it and run "
            "`warden login` again"
        ) from None
    if not isinstance(data, dict) or not _text(data.get("credential")):
        raise LoginError(f"{path} holds no credential: delete it and run `warden login` again")
    return data


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class LoginOptions:
    proxy: str
    portal: str | None = None
    idp: str | None = None
    label: str | None = None
    write_env: Path | None = None
    open_browser: bool = True


@dataclass
class Console:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)  # flushed: a pipe must see the code at once

    def warn(self, text: str) -> None:
        print(f"warden: {text}", file=self.err, flush=True)


def default_label() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    return f"{user}@{socket.gethostname()}"


def _stamp(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch).astimezone():%Y-%m-%d %H:%M %Z}" if epoch > 0 else "-"


def _when(expires_at: float, now: float) -> str:
    if expires_at <= 0:
        return "when the session ends (the portal did not say when)"
    left = max(0, int(expires_at - now))
    hours, minutes = divmod(left // 60, 60)
    span = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{_stamp(expires_at)} (in {span})"


def _has_graphical_browser(env: Mapping[str, str]) -> bool:
    """Open a browser only where one can appear: not over SSH, and on Linux and the BSDs
    only with a display (else ``webbrowser`` may start a text browser in this terminal)."""
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _resolve_portal(
    explicit: str | None,
    env: Mapping[str, str],
    proxy: ProxyAddress,
    transport: httpx.BaseTransport | None,
    console: Console,
) -> str:
    if explicit:
        return normalize_portal_url(explicit, "--portal")
    if env.get("WARDEN_PORTAL"):
        return normalize_portal_url(env["WARDEN_PORTAL"], "$WARDEN_PORTAL")
    portal, _ = discover_portal(proxy, transport=transport)
    console.say(f"Portal: {portal} (named by the proxy)")
    return portal


def login(
    opts: LoginOptions,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
    open_url: Callable[[str], bool] = webbrowser.open,
) -> int:
    """``warden login``; returns the exit status (0, 1 failure, 2 usage, 130 Ctrl-C)."""
    env = os.environ if env is None else env
    clock = clock or Clock()
    console = console or Console()
    try:
        return _login(opts, env, clock, console, transport, open_url)
    except LoginError as exc:
        console.warn(f"login failed: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        console.warn("login cancelled; nothing was stored.")
        return 130


def _login(
    opts: LoginOptions,
    env: Mapping[str, str],
    clock: Clock,
    console: Console,
    transport: httpx.BaseTransport | None,
    open_url: Callable[[str], bool],
) -> int:
    proxy = parse_proxy_url(opts.proxy)
    portal = _resolve_portal(opts.portal, env, proxy, transport, console)
    host = urlsplit(portal).hostname or ""
    if portal.startswith("http://") and not _is_loopback(host):
        console.warn(
            f"the portal {portal} is plain http: your credential crosses the network "
            "unencrypted; ask IT for its https address"
        )
    folder = config_dir(env)
    client = PortalClient(portal, transport=transport)
    try:
        ca_pem, fingerprint = client.ca_pem()  # early: a wrong --portal fails before sign-in
        grant = client.start(opts.idp, opts.label or default_label())
        console.say("To sign in, open this page in a browser:")
        console.say()
        console.say(f"    {grant.verification_uri}")
        console.say()
        console.say("and enter this code:")
        console.say()
        console.say(f"    {grant.user_code}")
        console.say()
        if grant.verification_uri_complete:
            console.say(
                f"(Or open {grant.verification_uri_complete} , which fills in the code; check "
                "that the page shows the same code.)"
            )
        minutes = max(1, round(grant.expires_in / 60))
        console.say(f"Waiting for approval; the code is valid for {minutes} min. Ctrl-C cancels.")
        if opts.open_browser and _has_graphical_browser(env):
            with contextlib.suppress(Exception):
                open_url(grant.verification_uri_complete or grant.verification_uri)
        approval = wait_for_approval(client, grant, clock, console.warn)
        previous = _stored_quietly(folder / CREDENTIALS_FILE)
        ca_file = _store(folder, portal, proxy, approval, ca_pem, opts, clock)
        if previous is not None and previous.get("credential") != approval.credential:
            _revoke_previous(previous, portal, transport, console)
    finally:
        client.close()

    proxy_line = proxy.with_credential(approval.credential)
    who = approval.email or "(no e-mail address)"
    extra = ", ".join(
        part
        for part in (
            f"tenant {approval.tenant}" if approval.tenant else "",
            f"department {approval.department}" if approval.department else "",
        )
        if part
    )
    console.say()
    console.say(f"Signed in as {who}" + (f" ({extra})." if extra else "."))
    console.say(f"The sign-in expires {_when(approval.expires_at, clock.wall())}.")
    console.say(f"CA certificate of the gateway: {ca_file}")
    console.say(f"  SHA-256 fingerprint: {fingerprint}")
    console.say("  Compare it with the fingerprint IT published before you rely on it.")
    console.say(f"Credential stored in {folder / CREDENTIALS_FILE} (readable only by you).")
    if (
        approval.proxy_url
        and urlsplit(approval.proxy_url).netloc
        and (urlsplit(approval.proxy_url).netloc != proxy.netloc)
    ):
        console.say(f"(The gateway calls its proxy {approval.proxy_url}; using {proxy.url}.)")
    console.say()
    console.say("Use the proxy with these lines (in this shell, or in your shell profile):")
    console.say()
    for line in env_lines(proxy_line, ca_file):
        console.say(line)
    console.say()
    if opts.write_env is not None:
        console.say(f"They are also in {opts.write_env}: run `. {opts.write_env}` to use them.")
    console.say("Sign out with `warden logout`.")
    return 0


def _stored_quietly(path: Path) -> dict[str, Any] | None:
    try:
        return load_stored(path)
    except LoginError:
        return None


def _store(
    folder: Path,
    portal: str,
    proxy: ProxyAddress,
    approval: Approval,
    ca_pem: bytes,
    opts: LoginOptions,
    clock: Clock,
) -> Path:
    _private_dir(folder)
    ca_file = folder / CA_FILE
    write_file(ca_file, ca_pem, 0o644)  # a public certificate
    system = system_ca_bundle()
    write_file(folder / BUNDLE_FILE, system.rstrip() + b"\n" + ca_pem if system else ca_pem, 0o644)
    env_file = opts.write_env.expanduser().absolute() if opts.write_env else None
    record = {
        "version": 1,
        "credential": approval.credential,
        "portal": portal,
        "proxy": proxy.url,
        "expires_at": int(approval.expires_at),
        "issued_at": int(clock.wall()),
        "user": {
            "email": approval.email,
            "tenant": approval.tenant,
            "department": approval.department,
        },
        "label": opts.label or default_label(),
        "ca_file": str(ca_file),
        "env_file": str(env_file) if env_file else None,
    }
    write_file(folder / CREDENTIALS_FILE, (json.dumps(record, indent=2) + "\n").encode())
    if env_file is not None:
        lines = env_lines(proxy.with_credential(approval.credential), ca_file)
        text = "\n".join(
            [
                ENV_FILE_MARKER,
                f"# for {approval.email or '-'}, valid until {_stamp(approval.expires_at)}; "
                "`warden logout` revokes it.",
                *lines,
                "",
            ]
        )
        try:
            write_file(env_file, text.encode())
        except OSError as exc:
            raise LoginError(
                f"signed in, but --write-env {opts.write_env} could not be written ({exc}); "
                "the credential is stored: check the folder exists and is writable, then run "
                "`warden login` again, or use the lines printed above"
            ) from None
    return ca_file


def _revoke_previous(
    previous: dict[str, Any],
    portal: str,
    transport: httpx.BaseTransport | None,
    console: Console,
) -> None:
    """A new login replaces the stored credential; revoke the old one so none is orphaned."""
    old_portal = _text(previous.get("portal")) or portal
    client = PortalClient(old_portal, transport=transport)
    try:
        if client.revoke(_text(previous.get("credential"))):
            console.warn(
                "the previously stored sign-in was revoked (shells using it must re-export)."
            )
    except LoginError as exc:
        console.warn(f"the previously stored sign-in could not be revoked: {exc}")
    finally:
        client.close()


def logout(
    portal: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """``warden logout``: revoke the stored credential at the portal and delete it."""
    env = os.environ if env is None else env
    console = console or Console()
    try:
        return _logout(portal, env, console, transport)
    except LoginError as exc:
        console.warn(f"logout failed: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        console.warn("logout cancelled; the credential is still stored and valid.")
        return 130


def _logout(
    explicit: str | None,
    env: Mapping[str, str],
    console: Console,
    transport: httpx.BaseTransport | None,
) -> int:
    path = config_dir(env) / CREDENTIALS_FILE
    stored = load_stored(path)
    if stored is None:
        console.say(f"Not signed in: there is no stored sign-in at {path}. Nothing to do.")
        return 0
    if explicit:
        portal = normalize_portal_url(explicit, "--portal")
    elif _text(stored.get("portal")):
        portal = normalize_portal_url(_text(stored.get("portal")), str(path))
    elif env.get("WARDEN_PORTAL"):
        portal = normalize_portal_url(env["WARDEN_PORTAL"], "$WARDEN_PORTAL")
    else:
        raise LoginError(f"{path} does not name its portal: pass --portal URL", 2)
    credential = _text(stored.get("credential"))
    client = PortalClient(portal, transport=transport)
    try:
        revoked = client.revoke(credential)
    except LoginError as exc:
        raise LoginError(
            f"{exc}. The credential is still valid and still stored in {path}; run "
            "`warden logout` again when the portal is reachable"
        ) from None
    finally:
        client.close()
    user = stored.get("user")
    if not isinstance(user, dict):
        user = {}
    email = _text(user.get("email"))
    path.unlink(missing_ok=True)
    _remove_env_file(stored, credential)
    if revoked:
        who = f" of {email}" if email else ""
        console.say(f"Signed out: the credential{who} is revoked at {portal}.")
    else:
        who = f" for {email}" if email else ""
        console.say(
            f"The portal at {portal} no longer knows this credential{who} (it expired, was "
            "revoked, or the session ended); removed the stored copy."
        )
    console.say(f"Deleted {path}. Shells that exported HTTPS_PROXY should `unset HTTPS_PROXY`.")
    return 0


def _remove_env_file(stored: dict[str, Any], credential: str) -> None:
    """Delete the --write-env file if it is still ours and holds this credential."""
    name = _text(stored.get("env_file"))
    if not name:
        return
    env_file = Path(name)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = env_file.read_text()
        if text.startswith(ENV_FILE_MARKER) and quote(credential, safe="") in text:
            env_file.unlink()
