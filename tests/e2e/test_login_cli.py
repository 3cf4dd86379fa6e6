"""`warden login` / `warden logout` as a terminal user runs them, and their polling loop.

The e2e tests (marked ``e2e``) run the real command as a subprocess against the bed of
tests/e2e/test_identity.py (the gateway and the dev IdP, oidc-provider), approve the code
at the IdP like a user, then use the printed settings with the real openai SDK.

The polling-loop tests drive ``wait_for_approval`` through ``httpx.MockTransport`` with a
fake clock: a missing interval, ``slow_down``, a network outage and a grant running out are
faults the real portal over the dev IdP does not produce on demand (and would take minutes
of real time), so a scripted transport stands in for the portal there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.e2e.test_identity import GREETING, Bed, start_bed
from tests.peers import WARDEN, Aimock
from warden.login import (
    Approval,
    Clock,
    DeviceGrant,
    LoginError,
    PortalClient,
    discover_portal,
    parse_proxy_url,
    wait_for_approval,
)

CLIENT = Path(__file__).parent / "clients" / "sdk_client.py"

# --------------------------------------------------------------------------- e2e


@pytest.fixture(scope="module")
def login_bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    b = start_bed(tmp_path_factory.mktemp("login"), aimock, surrogate=False)
    yield b
    b.warden.stop()
    b.idp.stop()


def user_env(home: Path) -> dict[str, str]:
    """A user's environment: its own HOME and XDG_CONFIG_HOME, no proxy, no portal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and k not in ("WARDEN_PORTAL", "SSL_CERT_FILE")
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "xdg"))
    return env


def start_login(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(WARDEN), "login", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # as from a terminal: Ctrl-C's default. A suite started in the background by a
        # script (`… &`) runs with SIGINT ignored, and an ignored disposition is inherited
        # across exec: Python then installs no KeyboardInterrupt handler at all.
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_user_code(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    """Read the command's output until it shows the user code (the line after the prompt)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"warden login ended early ({proc.wait()}):\n{lines}\n{err}")
        lines.append(line.rstrip("\n"))
        if len(lines) >= 3 and lines[-3] == "and enter this code:" and lines[-2] == "":
            return lines[-1].strip(), lines
    raise AssertionError(f"no user code shown: {lines}")


def sdk_call(env: dict[str, str], env_file: Path | None = None) -> dict[str, Any]:
    """The openai SDK as a user's program, configured only by the environment (optionally
    after sourcing the file `warden login --write-env` wrote)."""
    argv = [sys.executable, str(CLIENT), "openai", "plain", "hello warden"]
    if env_file is not None:
        argv = ["bash", "-c", '. "$0" && exec "$@"', str(env_file), *argv]
    out = subprocess.run(
        argv,
        env={**env, "OPENAI_API_KEY": "sk-test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.e2e
def test_login_sdk_call_then_logout(login_bed: Bed, tmp_path: Path) -> None:
    bed = login_bed
    env = user_env(tmp_path)
    env_file = tmp_path / "warden.env"
    proc = start_login(
        env,
        "--proxy",
        bed.warden.proxy_url,
        "--portal",
        bed.warden.control_url,
        "--write-env",
        str(env_file),
        "--label",
        "ci-laptop",
    )
    try:
        code, shown = read_user_code(proc)
        assert f"    {bed.idp.issuer}/device" in shown  # the verification URL, on its own
        bed.idp.approve_device(code, "alice", "dev-alice-password")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "Signed in as alice@acme.example (tenant acme, department eng)." in out
    assert "The sign-in expires 20" in out

    # The exact lines printed; the credential in the proxy URL; the CA from the portal.
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", out, re.M))
    assert set(exports) == {
        "HTTPS_PROXY",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    }
    host_port = bed.warden.proxy_url.removeprefix("http://")
    m = re.fullmatch(rf"http://device:(wdc_[\w%-]+)@{re.escape(host_port)}", exports["HTTPS_PROXY"])
    assert m, exports["HTTPS_PROXY"]
    credential = m.group(1)
    folder = tmp_path / "xdg" / "egress-warden"
    ca_file = folder / "ca.pem"
    bundle = folder / "ca-bundle.pem"
    assert (
        exports["SSL_CERT_FILE"]
        == exports["REQUESTS_CA_BUNDLE"]
        == exports["CURL_CA_BUNDLE"]
        == str(bundle)
    )
    assert exports["NODE_EXTRA_CA_CERTS"] == str(ca_file)
    # The bundle keeps the system's CAs (pass-through sites still verify) and adds ours.
    assert bundle.read_bytes().endswith(ca_file.read_bytes())
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") > 1
    assert ca_file.read_bytes() == bed.warden.ca_cert.read_bytes()
    der = x509.load_pem_x509_certificate(ca_file.read_bytes()).public_bytes(Encoding.DER)
    assert f"SHA-256 fingerprint: {hashlib.sha256(der).digest().hex(':').upper()}" in out

    # Files: the folder 0700, the credential and the env file 0600, with what they should hold.
    assert mode(folder) == 0o700
    creds = folder / "credentials.json"
    assert mode(creds) == 0o600 and mode(env_file) == 0o600
    stored = json.loads(creds.read_text())
    assert stored["credential"] == credential
    assert stored["portal"] == bed.warden.control_url
    assert stored["proxy"] == bed.warden.proxy_url
    assert stored["expires_at"] > time.time() + 60
    assert stored["user"] == {"email": "alice@acme.example", "tenant": "acme", "department": "eng"}
    assert stored["label"] == "ci-laptop"
    env_lines = [line for line in env_file.read_text().splitlines() if line.startswith("export ")]
    assert env_lines == [f"export {k}={v}" for k, v in exports.items()]

    # The printed settings work with the real SDK; so does the sourced env file.
    sdk_env = {**env, **exports}
    before = len(bed.aimock.journal())
    assert sdk_call(sdk_env).get("text") == GREETING
    assert sdk_call(env, env_file).get("text") == GREETING
    assert len(bed.aimock.journal()) == before + 2
    assert credential not in bed.warden.log()

    # Logout revokes at the portal and deletes the stored files; the SDK is told to sign in.
    done = subprocess.run(
        [str(WARDEN), "logout"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "Signed out: the credential of alice@acme.example is revoked" in done.stdout
    assert not creds.exists() and not env_file.exists()
    refused = sdk_call(sdk_env)
    assert refused.get("error") == "APIStatusError", refused
    assert "Error code: 407" in refused["message"] and "warden login" in refused["message"]
    assert len(bed.aimock.journal()) == before + 2

    again = subprocess.run(
        [str(WARDEN), "logout"], env=env, capture_output=True, text=True, timeout=30
    )
    assert again.returncode == 0 and "Not signed in" in again.stdout


@pytest.mark.e2e
def test_ctrl_c_while_waiting_exits_130_and_stores_nothing(login_bed: Bed, tmp_path: Path) -> None:
    env = user_env(tmp_path)
    proc = start_login(
        env, "--proxy", login_bed.warden.proxy_url, "--portal", login_bed.warden.control_url
    )
    try:
        read_user_code(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # at once; the bound reports one that never is
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "login cancelled; nothing was stored" in err and "Traceback" not in err
    assert not (tmp_path / "xdg" / "egress-warden" / "credentials.json").exists()


@pytest.mark.e2e
def test_the_proxy_names_its_portal(login_bed: Bed) -> None:
    portal, proxy = discover_portal(parse_proxy_url(login_bed.warden.proxy_url))
    assert portal == login_bed.warden.control_url
    assert proxy == login_bed.warden.proxy_url


@pytest.mark.e2e
def test_without_portal_and_a_proxy_that_cannot_name_one(aimock: Aimock, tmp_path: Path) -> None:
    """aimock is a real HTTP server but no Egress Warden proxy: the user is told to pass
    --portal."""
    out = subprocess.run(
        [str(WARDEN), "login", "--no-browser", "--proxy", aimock.url],
        env=user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1, out
    assert "did not say where its sign-in portal is" in out.stderr
    assert "--portal URL or set WARDEN_PORTAL" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--proxy", "socks5://127.0.0.1:1080"], "the scheme must be http"),
        (["--proxy", "http://proxy.example.com"], "it needs a host and a port"),
        (["--proxy", "http://u:p@127.0.0.1:8080"], "leave out user and password"),
    ],
)
def test_bad_proxy_url_exits_2(args: list[str], expected: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(WARDEN), "login", "--no-browser", *args],
        env=user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and expected in out.stderr and "http://HOST:PORT" in out.stderr


@pytest.mark.e2e
def test_unreachable_portal_names_the_fix(login_bed: Bed, tmp_path: Path) -> None:
    from tests.peers import free_port

    out = subprocess.run(
        [
            str(WARDEN),
            "login",
            "--no-browser",
            "--proxy",
            login_bed.warden.proxy_url,
            "--portal",
            f"http://127.0.0.1:{free_port()}",
        ],
        env=user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "cannot reach the portal at http://127.0.0.1:" in out.stderr
    assert "--portal or $WARDEN_PORTAL" in out.stderr


@pytest.mark.e2e
def test_logout_keeps_the_credential_when_the_portal_is_unreachable(tmp_path: Path) -> None:
    from tests.peers import free_port

    folder = tmp_path / "xdg" / "egress-warden"
    folder.mkdir(parents=True)
    creds = folder / "credentials.json"
    creds.write_text(
        json.dumps({"credential": "wdc_x", "portal": f"http://127.0.0.1:{free_port()}"})
    )
    out = subprocess.run(
        [str(WARDEN), "logout"], env=user_env(tmp_path), capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 1
    assert "cannot reach the portal" in out.stderr and "still valid" in out.stderr
    assert creds.exists()


# --------------------------------------------------------------------------- polling loop


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep, wall=lambda: self.now)


def scripted_portal(
    answers: list[dict[str, Any] | Exception], polls: list[float], clock: FakeClock
) -> PortalClient:
    """A portal answering each poll with the next scripted answer (the last one repeats);
    an exception is raised as the transport's failure."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/portal/device/poll"
        assert json.loads(request.content) == {"handle": "h-1"}
        polls.append(clock.now)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        status = 200 if answer.get("status") in ("ok", "pending", "slow_down") else 400
        return httpx.Response(status, json=answer)

    return PortalClient("http://portal.test", transport=httpx.MockTransport(handler))


def grant(interval: float = 5, expires_in: float = 600) -> DeviceGrant:
    return DeviceGrant("h-1", "ABCD-EFGH", "http://idp.test/device", None, interval, expires_in)


OK: dict[str, Any] = {
    "status": "ok",
    "credential": "wdc_x",
    "expires_at": 1_800_000_000,
    "user": {"email": "a@x", "tenant": "acme", "department": "eng"},
}


def run_poll(
    answers: list[dict[str, Any] | Exception], g: DeviceGrant
) -> tuple[Callable[[], Approval], FakeClock, list[float]]:
    clock, polls = FakeClock(), list[float]()
    client = scripted_portal(answers, polls, clock)
    return (lambda: wait_for_approval(client, g, clock.clock())), clock, polls


def test_poll_defaults_to_5s_when_the_portal_gives_no_interval() -> None:
    poll, clock, polls = run_poll([{"status": "pending"}, {"status": "pending"}, OK], grant(0))
    approval = poll()
    assert approval.credential == "wdc_x" and approval.tenant == "acme"
    assert clock.sleeps == [5, 5, 5]
    assert polls == [1005, 1010, 1015]


def test_slow_down_adds_5s_and_takes_a_larger_server_interval() -> None:
    poll, clock, _ = run_poll(
        [
            {"status": "slow_down"},  # no interval named: 5 + 5
            {"status": "slow_down", "interval": 20},  # the portal's, larger than 10 + 5
            {"status": "pending", "interval": 20},
            OK,
        ],
        grant(5),
    )
    poll()
    assert clock.sleeps == [5, 10, 20, 20]


def test_pending_follows_the_interval_the_portal_names() -> None:
    poll, clock, _ = run_poll([{"status": "pending", "interval": 7}, OK], grant(5))
    poll()
    assert clock.sleeps == [5, 7]


def test_expiry_stops_polling() -> None:
    poll, clock, polls = run_poll([{"status": "pending", "interval": 5}], grant(5, expires_in=12))
    with pytest.raises(LoginError, match="expired before it was approved"):
        poll()
    assert polls == [1005, 1010]  # no poll after the grant ran out
    assert clock.sleeps == [5, 5, 2] and clock.now == 1012


def test_network_errors_back_off_and_recover() -> None:
    down = httpx.ConnectError("connection refused")
    poll, clock, _ = run_poll([down, down, {"status": "pending"}, OK], grant(5))
    assert poll().credential == "wdc_x"
    assert clock.sleeps == [5, 10, 20, 5]  # doubling while down, the interval once back


def test_network_errors_give_up_when_the_grant_expires() -> None:
    poll, clock, _ = run_poll([httpx.ConnectError("connection refused")], grant(5, expires_in=60))
    with pytest.raises(LoginError, match=r"could not be reached .*connection refused"):
        poll()
    assert clock.sleeps == [5, 10, 20, 25] and clock.now == 1060


def test_denied_and_expired_end_the_loop_with_the_reason() -> None:
    poll, _, _ = run_poll([{"status": "denied", "message": "access_denied"}], grant())
    with pytest.raises(LoginError, match=r"denied \(access_denied\)"):
        poll()
    poll, _, _ = run_poll([{"status": "expired"}], grant())
    with pytest.raises(LoginError, match="run `warden login` again"):
        poll()


def test_proxy_address_and_quoted_credential() -> None:
    assert parse_proxy_url("proxy.corp:8080").url == "http://proxy.corp:8080"
    v6 = parse_proxy_url("http://[::1]:3128/")
    assert v6.with_credential("wdc_a/b+c") == "http://device:wdc_a%2Fb%2Bc@[::1]:3128"
