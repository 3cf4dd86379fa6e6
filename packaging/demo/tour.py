"""The demo: a development IdP, a mock LLM and the gateway on loopback, and a guided tour.

Run with ``make demo``. Everything runs on 127.0.0.1 in ``./demo/`` (made anew each time):
the dev IdP (npm ``oidc-provider``, two tenants, a few users), aimock as "OpenAI", and
``warden run`` with the demo config (policies, DLP profiles, SCIM, syslog to a file). The
tour signs people in, sends prompts with the real openai SDK and prints what happened.
Afterwards everything keeps running for you to explore; Ctrl-C stops all of it.

The gateway reaches aimock through the test-bed routing (``unsafe_testing``), which is
why the commands printed at the end carry ``WARDEN_UNSAFE_TESTING``: never in production.

Over 400 lines because the tour is one script read top to bottom, a step per scene it shows.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.identity.devidp import DevIdp, portal_client, public_client  # noqa: E402
from tests.peers import UNSAFE_ENV, WARDEN, Aimock, Peer, WardenProcess  # noqa: E402

HERE = Path(__file__).resolve().parent
PORTAL_SECRET_ENV = "WARDEN_DEMO_PORTAL_SECRET"
PORTAL_SECRET = "demo-portal-secret-not-for-production"
EMAIL = "jane.customer@example.com"
# A made-up key shaped like a real one: the DLP profile leaves obvious placeholders
# (`sk-...`, alphabet runs such as `abcdefgh…`) alone, as it should.
API_KEY = "sk-proj-huG8GP38g4o5MNJAYKJ1UXXFWXLCpaNfhs0gCa05RFRunzqw"


class Tour:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.peers: list[Peer] = []
        self.passed = 0
        self.failed = 0

    # -- output ----------------------------------------------------------------------

    def step(self, title: str) -> None:
        print(f"\n\033[1m▶ {title}\033[0m", flush=True)

    def ok(self, text: str) -> None:
        self.passed += 1
        print(f"  \033[32m✓\033[0m {text}", flush=True)

    def bad(self, text: str) -> None:
        self.failed += 1
        print(f"  \033[31m✗\033[0m {text}", flush=True)

    def check(self, condition: bool, good: str, wrong: str) -> None:
        (self.ok if condition else self.bad)(good if condition else wrong)

    # -- peers -----------------------------------------------------------------------

    def start(self) -> None:
        self.step("Starting the dev IdP, the mock LLM (aimock) and the gateway on loopback")
        self.collector = SyslogFile(self.work / "syslog.log")
        self.aimock = Aimock(HERE / "aimock.json", self.work / "aimock.log")
        self.aimock.start()
        self.peers.append(self.aimock)
        (self.work / "warden").mkdir()
        self.warden = WardenProcess(
            self.work / "warden", {}, env={**UNSAFE_ENV, PORTAL_SECRET_ENV: PORTAL_SECRET}
        )
        self.idp = DevIdp(
            self.work / "idp",
            clients=[
                public_client("warden-cli"),
                portal_client(
                    "warden-portal",
                    PORTAL_SECRET,
                    [f"{self.warden.control_url}/portal/callback"],
                    backchannel_logout_uri=f"{self.warden.control_url}/portal/backchannel-logout",
                ),
            ],
        )
        self.idp.start()
        self.peers.append(self.idp)
        self.warden.config_path.write_text(yaml.safe_dump(self.config()))
        # What `warden` commands on the demo's config need in their environment.
        (self.work / "env").write_text(
            "".join(
                f"{k}={v}\n" for k, v in {**UNSAFE_ENV, PORTAL_SECRET_ENV: PORTAL_SECRET}.items()
            )
        )
        self.warden.start()
        self.peers.append(self.warden)
        self.ok(f"dev IdP {self.idp.issuer}, aimock {self.aimock.url}")
        self.ok(
            f"proxy {self.warden.proxy_url}, portal and control plane {self.warden.control_url}"
        )

    def config(self) -> dict[str, Any]:
        cfg = yaml.safe_load(self.warden.config_path.read_text())
        cfg["proxy"]["allow_loopback_destinations"] = False
        cfg["unsafe_testing"] = {"route_catalog_hosts_to": self.aimock.url}
        cfg["identity"] = {
            "portal": {"company": "Acme Corp (demo)", "help_contact": "it-help@acme.example"},
            "identity_providers": [
                {
                    "id": "dev",
                    "issuer": self.idp.issuer,
                    "client_id": "warden-portal",
                    "client_secret_env": PORTAL_SECRET_ENV,
                    "device_client_id": "warden-cli",
                    "scopes": ["openid", "email", "profile", "warden", "offline_access"],
                    "tenant_claim": "tenant",
                }
            ],
            "tenants": [
                {
                    "id": "acme",
                    "display_name": "Acme",
                    "identity_providers": ["dev"],
                    "scim": True,
                    "reviewer_groups": ["eng"],
                },
                {"id": "globex", "display_name": "Globex", "identity_providers": ["dev"]},
            ],
        }
        cfg["policy"] = {"file": str(HERE / "policy.yaml")}
        cfg["dlp"] = {"profiles_file": str(HERE / "dlp-profiles.yaml"), "workers": 1}
        cfg["audit"] = {
            "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": self.collector.port}
        }
        return cfg

    def stop(self) -> None:
        for peer in reversed(self.peers):
            peer.stop()
        self.collector.close()

    # -- helpers ---------------------------------------------------------------------

    def device_login(self, user: str, password: str) -> str:
        """``warden login`` exactly as an employee runs it (the real command, in a home of
        the user's own under the demo folder); the tour plays the user at the IdP's page.
        Returns the device credential; the export lines are in ``<work>/<user>.env``."""
        home = self.work / "home" / user
        env_file = self.work / f"{user}.env"
        argv = [
            str(WARDEN),
            "login",
            "--no-browser",
            "--proxy",
            self.warden.proxy_url,
            "--write-env",
            str(env_file),
        ]
        print(f"    $ warden login --proxy {self.warden.proxy_url} --write-env {env_file}")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().endswith("_PROXY") and k not in ("WARDEN_PORTAL", "SSL_CERT_FILE")
        }
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            assert proc.stdout is not None
            shown: list[str] = []
            while not (len(shown) >= 3 and shown[-3] == "and enter this code:"):
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"warden login ended early: {shown} {proc.stderr}")
                shown.append(line.rstrip("\n"))
                print(f"    | {shown[-1]}" if shown[-1] else "    |")
            code = shown[-1].strip()
            print(f"    ({user} opens that page, enters {code} and signs in)")
            self.idp.approve_device(code, user, password)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        if proc.returncode != 0:
            raise RuntimeError(f"warden login failed ({proc.returncode}): {err}")
        signed_in = next((line for line in out.splitlines() if line.startswith("Signed in")), "")
        print(f"    | {signed_in}")
        print(f"    | ... (the proxy settings, with the credential, are in {env_file})")
        stored = json.loads((home / ".config" / "egress-warden" / "credentials.json").read_text())
        return str(stored["credential"])

    def client(self, credential: str) -> openai.OpenAI:
        proxy = self.warden.proxy_url.replace("http://", f"http://device:{credential}@")
        ctx = ssl.create_default_context(cafile=str(self.warden.ca_cert))
        return openai.OpenAI(
            api_key="sk-demo",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(proxy=proxy, verify=ctx),
        )

    def last_upstream_prompt(self) -> str:
        entries = [e for e in self.aimock.journal() if e.get("path") == "/v1/chat/completions"]
        body = entries[-1]["body"] if entries else {}
        return json.dumps(body)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WARDEN), "--config", str(self.warden.config_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **UNSAFE_ENV, PORTAL_SECRET_ENV: PORTAL_SECRET},
        )

    # -- the tour ----------------------------------------------------------------------

    def run(self) -> None:
        self.step(
            "alice (acme, engineering) signs in from a terminal: `warden login` (device grant)"
        )
        alice = self.device_login("alice", "dev-alice-password")
        self.ok("alice got a device credential (the gateway keeps only its hash)")

        self.step("alice asks about a ticket that contains an e-mail address and an API key")
        prompt = f"Summarize the ticket from {EMAIL} who pasted the key {API_KEY} into it."
        answer = (
            self.client(alice)
            .chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
            )
            .choices[0]
            .message.content
            or ""
        )
        upstream = self.last_upstream_prompt()
        self.check(
            EMAIL not in upstream and API_KEY not in upstream and "<EMAIL_ADDRESS_1>" in upstream,
            "what reached the model: <EMAIL_ADDRESS_1> and <OPENAI_API_KEY_1>, not the values",
            f"the upstream saw: {upstream[:200]}",
        )
        print(f"    answer: {answer}")

        self.step(
            "alice drafts a note to a customer; the name goes out as a pseudonym and comes back restored"
        )
        stream = self.client(alice).chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=[
                {
                    "role": "user",
                    "content": "Draft a short apology to Jane Roe for the late delivery.",
                }
            ],
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        upstream = self.last_upstream_prompt()
        self.check(
            "Jane Roe" in text and "Jane Roe" not in upstream and "<CUSTOMER_1>" in upstream,
            f"streamed answer: {text!r} (the model only saw <CUSTOMER_1>)",
            f"answer {text!r}; upstream {upstream[:200]}",
        )

        self.step("bob (acme, finance) is blocked from GPT-4o by his department's rule")
        bob = self.device_login("bob", "dev-bob-password")
        try:
            self.client(bob).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
            self.bad("bob's request went through")
        except openai.PermissionDeniedError as exc:
            self.ok(
                f"the SDK raised PermissionDeniedError: {exc.body['message'] if isinstance(exc.body, dict) else exc}"
            )

        self.step("The IdP deactivates alice over SCIM: her access ends at once")
        out = self.cli("scim", "token", "create", "--tenant", "acme")
        token = out.stdout.strip().rsplit(" ", 1)[1]
        scim = httpx.Client(
            base_url=f"{self.warden.control_url}/scim/v2/acme",
            timeout=10,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        uid = scim.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "alice@acme.example",
                "externalId": "alice",
                "active": True,
            },
        ).json()["id"]
        scim.patch(
            f"/Users/{uid}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        try:
            self.client(alice).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
            self.bad("alice's request still went through")
        except openai.APIStatusError as exc:
            self.check(
                exc.status_code == 407,
                "alice's next request: 407, sign in again",
                f"HTTP {exc.status_code}",
            )

        self.step("warden doctor on the demo set-up")
        doctor = self.cli("doctor")
        self.check(
            doctor.returncode == 0,
            "warden doctor: every check passes (the demo's test routing is a warning)",
            doctor.stdout[-800:],
        )

        self.step("The audit trail: every flow and event, hash-chained and signed")
        verify = self.cli("audit", "verify")
        self.check(
            verify.returncode == 0 and "OK" in verify.stdout,
            verify.stdout.strip().splitlines()[-1],
            verify.stdout + verify.stderr,
        )
        time.sleep(1.0)
        lines = self.collector.path.read_text(errors="replace").count("egress-warden")
        self.check(
            lines > 0,
            f"{lines} records reached the syslog collector ({self.collector.path})",
            "nothing reached the syslog collector",
        )

    def hand_over(self) -> None:
        """Sign in a person the tour leaves active and run, as printed, the commands the
        farewell hands to the reader: they must work exactly as shown."""
        self.step("dave (acme, sales) signs in; the settings `warden login` wrote work as printed")
        self.device_login("dave", "dev-dave-password")
        out = subprocess.run(
            ["bash", "-c", self.try_it()],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")},
        )
        self.check(
            out.returncode == 0 and "Hello from the mock upstream." in out.stdout,
            "curl through the gateway with dave's settings: the model answered",
            f"curl failed ({out.returncode}): {out.stdout[-300:]} {out.stderr[-300:]}",
        )

    def try_it(self) -> str:
        """The commands the farewell prints for trying the proxy as dave."""
        body = json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
        )
        return (
            f". {self.work / 'dave.env'} && curl -sS https://api.openai.com/v1/chat/completions "
            f"-H 'Authorization: Bearer sk-demo' -H 'Content-Type: application/json' -d '{body}'"
        )

    def farewell(self, wait: bool) -> None:
        cfg = self.warden.config_path
        env = f"env $(cat {self.work / 'env'})"
        print(f"\n\033[1m{self.passed} passed, {self.failed} failed\033[0m")
        print("\nExplore (everything keeps running):")
        print(f"  review console:  {env} .venv/bin/warden --config {cfg} console --admin")
        print(f"  audit records:   {env} .venv/bin/warden --config {cfg} audit tail")
        print(f"  health check:    {env} .venv/bin/warden --config {cfg} doctor")
        print(
            f"  portal:          {self.warden.control_url}/portal/   (users: alice, bob, carol / dev-<name>-password)"
        )
        print("\nUse the proxy as dave (signed in above; the tour deactivated alice):")
        print(f"  {self.try_it()}")
        print(
            "Sign in as yourself instead (bob or carol, password dev-<name>-password, at the\n"
            "dev IdP's page that `warden login` shows):"
        )
        print(
            f"  .venv/bin/warden login --proxy {self.warden.proxy_url} "
            f"--write-env {self.work / 'me.env'} && . {self.work / 'me.env'}"
        )
        if wait:
            print("\nPress Ctrl-C to stop everything.")
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


class SyslogFile:
    """A minimal syslog-over-TCP receiver for the demo only: it writes each octet-counted
    message to a file. Production points the gateway at a real collector (rsyslog, the
    SIEM); the test suite does so with rsyslog."""

    def __init__(self, path: Path) -> None:
        self.path = path
        out = path.open("ab")

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    size = b""
                    while (c := self.rfile.read(1)) not in (b" ", b""):
                        size += c
                    if not size.isdigit():
                        return
                    out.write(self.rfile.read(int(size)) + b"\n")
                    out.flush()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-wait", action="store_true", help="stop right after the tour (for tests)")
    ap.add_argument("--workdir", default=str(ROOT / "demo"))
    args = ap.parse_args()
    work = Path(args.workdir)
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    tour = Tour(work)
    try:
        tour.start()
        tour.run()
        tour.hand_over()
        tour.farewell(wait=not args.no_wait)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the gateway, the IdP and aimock ...", flush=True)
        tour.stop()
    return 0 if tour.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
