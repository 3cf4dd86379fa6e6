"""`warden login` and `warden logout`: the steps, what is printed, what is stored or removed."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sys
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import httpx

from warden.providers.hostnames import is_loopback

from .addresses import ProxyAddress, normalize_portal_url, parse_proxy_url
from .base import (
    BUNDLE_FILE,
    CA_FILE,
    CREDENTIALS_FILE,
    ENV_FILE_MARKER,
    Clock,
    LoginError,
)
from .files import _private_dir, config_dir, env_lines, load_stored, system_ca_bundle, write_file
from .polling import wait_for_approval
from .portal import (
    Approval,
    PortalClient,
    _text,
    discover_portal,
)


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
    if portal.startswith("http://") and not is_loopback(host):
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
