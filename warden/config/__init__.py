"""The gateway's configuration: schema, loading, and validation that reports every error at once.

The YAML file is hostile input like any other: unknown keys are errors (a typo must not
silently switch a protection off), and every problem is reported together with its key
path, the value found and what is allowed, so an operator fixes the file in one pass.

Over 400 lines: the root sections of the schema; identity and audit have their own modules.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from warden.config.audit import AuditSettings
from warden.config.identity import IdentitySettings

#: The environment variable that must accompany ``unsafe_testing`` in the config file.
UNSAFE_TESTING_ENV = "WARDEN_UNSAFE_TESTING"
UNSAFE_TESTING_CONSENT = "route-llm-traffic-to-loopback"

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s) in the configuration:"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Fix each entry above and start again; nothing was changed.")
        return "\n".join(lines)


def _check_host_pattern(value: str) -> str:
    """A host name, or ``*.`` followed by a host name (any depth of labels below it)."""
    host = value.strip().lower().rstrip(".")
    bare = host[2:] if host.startswith("*.") else host
    labels = bare.split(".")
    if len(bare) > 253 or len(labels) < 2 or not all(_HOST_LABEL.match(lb) for lb in labels):
        raise ValueError(
            "must be a host name such as 'api.example.com' or a wildcard such as "
            "'*.example.com' (no scheme, port or path)"
        )
    return host


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenAddress(_Strict):
    host: str = "127.0.0.1"
    port: Port

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            if v != "localhost":
                raise ValueError("must be an IP address to listen on, or 'localhost'") from None
        return v


KIB = 1024
MIB = 1024 * KIB


class ProxyLimits(_Strict):
    """What one client or upstream can make the proxy hold, in memory and in time.

    Every value bounds something a client or an upstream chooses; the defaults leave room
    for any real LLM request (a 20 MB image in base64, browsers' cookie-heavy heads) while
    keeping one hostile peer from exhausting the gateway.
    """

    #: Largest request or answer body read from the network, as sent (mitmproxy's
    #: ``body_size_limit``). Applies to every body the proxy reads: intercepted flows and
    #: plain-HTTP requests through it; TLS tunnels to other hosts are never read.
    body_bytes: int = Field(64 * MIB, ge=64 * KIB, le=4096 * MIB)
    #: Largest body once content-decoded (gzip, deflate, br, zstd). Decoding stops as soon
    #: as it passes this size: a request gets 413, an answer 502, and the flow is recorded.
    decoded_body_bytes: int = Field(64 * MIB, ge=64 * KIB, le=4096 * MIB)
    #: Largest request or answer head (request or status line and header fields);
    #: a larger request head gets 431 and its connection is closed.
    header_bytes: int = Field(64 * KIB, ge=4 * KIB, le=4 * MIB)
    #: Seconds a client has to complete a request head, counted from its first byte (or
    #: from the connection's start, for its first request); then 408 and the connection
    #: is closed.
    header_seconds: float = Field(30, ge=1, le=600)
    #: Seconds a connection may stay silent both ways before it is closed (mitmproxy's
    #: ``tcp_timeout``). Streams that send nothing for longer end too.
    idle_seconds: int = Field(600, ge=10, le=86400)
    #: Connections one client address may hold open at once; more are closed at once.
    #: Raise it for an address many people share (a NAT or terminal server).
    connections_per_client: int = Field(1024, ge=1, le=1_000_000)
    #: Of those, connections that have not yet completed a request head (each holds at
    #: most header_bytes: 256 x 64 KiB = 16 MiB per address at worst). A burst of new
    #: connections from one address counts here until their heads arrive.
    pending_heads_per_client: int = Field(256, ge=1, le=1_000_000)


class ProxySettings(_Strict):
    listen: ListenAddress = ListenAddress(port=8080)
    limits: ProxyLimits = ProxyLimits()
    #: ``lazy`` opens the upstream connection only when the first request arrives.
    connection_strategy: Literal["eager", "lazy"] = "eager"
    #: Let clients reach the gateway host's loopback and link-local addresses through the
    #: proxy. Off: the control plane, local services and cloud metadata stay out of reach.
    allow_loopback_destinations: bool = False
    #: The largest WebSocket message (either direction) the gateway reads; a larger client
    #: message is refused, a larger server event passes unread.
    websocket_max_message_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    #: Gateway processes on this host sharing the proxy port (``auto``: one per core).
    #: 1 is one process with everything in it (unless ``control.own_process``); more runs
    #: the workers under a supervisor whose own process serves the control plane
    #: (warden.gateway.supervisor).
    workers: Annotated[StrictInt, Field(ge=1, le=64)] | Literal["auto"] = 1
    #: Every gateway of the fleet as clients reach it (``host:port``), in the order the
    #: PAC file offers them: a client tries the next when one does not answer. Empty:
    #: this gateway alone. `warden doctor` checks each.
    instances: tuple[str, ...] = Field((), max_length=32)

    @field_validator("instances")
    @classmethod
    def _instances(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, sep, port = item.strip().rpartition(":")
            if (
                not sep
                or not host
                or "/" in item
                or "@" in item
                or not port.isdigit()
                or not 1 <= int(port) <= 65535
            ):
                raise ValueError(
                    f"{item!r}: write each instance as host:port, e.g. warden-a.example.com:8080"
                )
        if len(set(value)) != len(value):
            raise ValueError("an instance is listed twice")
        return value

    @property
    def worker_count(self) -> int:
        if self.workers == "auto":
            return max(1, min(64, len(os.sched_getaffinity(0))))
        return self.workers


class ControlTls(_Strict):
    """HTTPS for the control plane: your own certificate, or one the warden CA issues."""

    cert_file: Path | None = None
    key_file: Path | None = None
    issue_from_ca: bool = False

    @model_validator(mode="after")
    def _one(self) -> ControlTls:
        own = self.cert_file is not None and self.key_file is not None
        if own == self.issue_from_ca or (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set cert_file and key_file, or issue_from_ca: true (one of the two)")
        return self


class ControlSettings(_Strict):
    listen: ListenAddress = ListenAddress(port=8081)
    tls: ControlTls | None = None
    #: Serve the control plane (portal, admin API, SCIM, PAC, health) from a process of
    #: its own, beside the proxy's, also with ``proxy.workers: 1``, so that portal load
    #: never runs on the proxy's event loop (warden.gateway.supervisor). Revocations are
    #: pushed to the proxy process and acknowledged before they are answered
    #: (warden.gateway.push; docs/admin/limits.md). Off by default.
    own_process: bool = False


class CASettings(_Strict):
    common_name: str = Field("Egress Warden Interception CA", min_length=1, max_length=64)
    organization: str | None = Field(None, max_length=64)
    #: Issue the CA with X.509 name constraints limited to the catalog's domains.
    name_constraints: bool = True
    validity_days: int = Field(3650, ge=1, le=7300)


class UnsanctionedHost(_Strict):
    host: str
    reason: str = Field(
        "This AI service is not approved by your company.", min_length=1, max_length=300
    )

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return _check_host_pattern(v)


class CatalogSettings(_Strict):
    #: Extra host names for a catalog service, e.g. a company's Azure OpenAI resources.
    extra_hosts: dict[str, list[str]] = Field(default_factory=dict)
    #: AI services that are refused at CONNECT with a 403 and the reason.
    unsanctioned: list[UnsanctionedHost] = Field(default_factory=list)

    @field_validator("extra_hosts")
    @classmethod
    def _extra(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {service: [_check_host_pattern(h) for h in hosts] for service, hosts in v.items()}


class PolicySettings(_Strict):
    #: The policy document (YAML); relative to the config file. Watched and hot-reloaded.
    file: Path


class DlpFileLimits(_Strict):
    """Bounds on reading one uploaded file (dlp/extract.py), in the DLP workers."""

    #: One file's extraction and scan, in seconds; beyond it the worker is replaced and
    #: the file counts as unreadable (policy ``uploads.unreadable`` decides).
    timeout_s: float = Field(30.0, gt=0, le=600)
    #: More text than this in one file is not half-checked: the file is unreadable.
    max_text_chars: int = Field(2_000_000, ge=1_000, le=100_000_000)
    #: An Office file (a ZIP) whose entries unpack to more than this is an archive bomb.
    max_unpacked_bytes: int = Field(256 * MIB, ge=1 * MIB, le=4096 * MIB)
    #: An Office file with more ZIP entries than this is refused.
    max_entries: int = Field(10_000, ge=10, le=1_000_000)


class DlpSettings(_Strict):
    #: DLP profiles (YAML mapping profile id -> profile); relative to the config file.
    profiles_file: Path
    #: The profile every allowed flow is scanned with when no policy names one (None: only
    #: what a policy rule asks for is scanned).
    default_profile: str | None = None
    workers: int = Field(2, ge=1, le=64)
    timeout_s: float = Field(5.0, gt=0, le=120)
    #: Uploaded files: extraction bounds (addons/uploads.py).
    files: DlpFileLimits = DlpFileLimits()


class StreamSettings(_Strict):
    #: The largest line, event or message one streamed answer may carry (SSE, AWS event
    #: stream, JSON array element), in bytes. Beyond it the answer is cut with an error
    #: event: the gateway neither holds it without limit nor passes it on unread.
    max_event_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class UnsafeTesting(_Strict):
    """Test-bed only: send every intercepted catalog request to a loopback mock upstream.

    It keeps the ``Host`` header, so the mock sees what the real service would. It is
    refused unless the environment also carries ``WARDEN_UNSAFE_TESTING`` with the
    consent phrase, and the target must be a loopback address: a production config that
    copies this block by accident fails to start instead of sending prompts elsewhere.
    """

    route_catalog_hosts_to: str
    #: Per catalog host, another loopback target (e.g. a web-app fixture for chatgpt.com).
    routes: dict[str, str] = Field(default_factory=dict)

    @field_validator("route_catalog_hosts_to")
    @classmethod
    def _loopback(cls, v: str) -> str:
        return _loopback_url(v)

    @field_validator("routes")
    @classmethod
    def _routes(cls, v: dict[str, str]) -> dict[str, str]:
        return {_check_host_pattern(h): _loopback_url(u) for h, u in v.items()}


def _loopback_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("must be a URL like 'http://127.0.0.1:4010' (scheme, host, port)")
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if not loopback:
        raise ValueError("must point at a loopback address (127.0.0.0/8, ::1 or localhost)")
    if parts.port is None:
        raise ValueError("must name the port, e.g. 'http://127.0.0.1:4010'")
    return v


SECRET_IN_CONFIG = "secret_in_config"  # noqa: S105 - an error type name, not a secret


class StateSettings(_Strict):
    """Where sessions, SCIM data and quota counters live (see warden/gateway/state/store.py)."""

    #: ``sqlite``: ``state_dir/state.db``, one host. ``postgresql``: shared by a fleet; the
    #: DSN comes from the environment (``WARDEN_STATE_DSN``), never from this file.
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    #: Most PostgreSQL connections one instance holds.
    pool_size: int = Field(8, ge=2, le=100)

    @model_validator(mode="before")
    @classmethod
    def _no_dsn_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"dsn", "url", "password"} & set(data):
            raise PydanticCustomError(
                SECRET_IN_CONFIG,
                "the database's DSN (with its password) is never read from the config file: "
                "set WARDEN_STATE_DSN in the gateway's environment instead",
            )
        return data


class FleetSettings(_Strict):
    """This gateway as one instance of a fleet (see warden/audit/instance.py)."""

    #: The name in every audit record and checkpoint this instance writes, stable across
    #: restarts: lower-case letters, digits, '.', '-' (e.g. ``gw-a``). Unset: derived at
    #: first start from the host name and kept in the audit folder (``instance-id``).
    instance_id: str | None = None

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str | None) -> str | None:
        from warden.audit.fields import INSTANCE_PATTERN

        if value is not None and not INSTANCE_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value[:80]!r}: use 1-63 lower-case letters, digits, '.' or '-', starting "
                "with a letter or digit, e.g. 'gw-a'"
            )
        return value


class Config(_Strict):
    #: Where the CA, the databases and the spool live; relative paths are taken from the
    #: directory of the config file.
    state_dir: Path = Path("state")
    proxy: ProxySettings = ProxySettings()
    control: ControlSettings = ControlSettings()
    ca: CASettings = CASettings()
    catalog: CatalogSettings = CatalogSettings()
    log: LogSettings = LogSettings()
    identity: IdentitySettings = IdentitySettings()
    audit: AuditSettings = AuditSettings()
    #: Without a policy every signed-in flow is allowed (and said so at start).
    policy: PolicySettings | None = None
    dlp: DlpSettings | None = None
    streams: StreamSettings = StreamSettings()
    state: StateSettings = StateSettings()
    fleet: FleetSettings = FleetSettings()
    unsafe_testing: UnsafeTesting | None = None

    @property
    def ca_dir(self) -> Path:
        return self.state_dir / "ca"

    @property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def control_url(self) -> str:
        """The control plane as this host reaches it (CLI commands talk to it here)."""
        scheme = "https" if self.control.tls else "http"
        return f"{scheme}://{self.control.listen.host}:{self.control.listen.port}"

    @property
    def audit_dir(self) -> Path:
        return self.state_dir / "audit"

    @property
    def audit_db(self) -> Path:
        return self.audit_dir / "audit.db"


def _format_error(err: Any) -> str:
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; allowed keys are in the example config)"
    if err["type"] == "missing":
        return f"{path}: required key is missing"
    if err["type"] == SECRET_IN_CONFIG:  # never echo the value: it holds a password
        return f"{path}: {msg}"
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 80:
        shown = type(value).__name__ if isinstance(value, dict | list) else shown[:77] + "..."
    return f"{path}: {shown} is not allowed: {msg}"


def parse_config(data: object, source: str, base_dir: Path, env: dict[str, str]) -> Config:
    """Validate an already-parsed YAML document; relative ``state_dir`` is taken from base_dir."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): must be a mapping of keys to values"])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_format_error(e) for e in exc.errors()]) from None
    problems: list[str] = []
    if config.unsafe_testing is not None and env.get(UNSAFE_TESTING_ENV) != UNSAFE_TESTING_CONSENT:
        problems.append(
            "unsafe_testing: present, but the environment lacks "
            f"{UNSAFE_TESTING_ENV}={UNSAFE_TESTING_CONSENT}. This block sends LLM traffic "
            "to a loopback test server and is for the test bed only: remove it from "
            "production config."
        )
    if config.proxy.listen == config.control.listen:
        problems.append(
            f"control.listen.port: {config.control.listen.port} is not allowed: "
            "the proxy already listens there; pick another port"
        )
    if config.policy is not None and config.identity.mode == "off":
        problems.append(
            "policy: a policy decides per tenant and person, so it needs identity.mode "
            "'enforce' with tenants; remove identity.mode: off or the policy block"
        )
    if problems:
        raise ConfigError(source, problems)
    if not config.state_dir.is_absolute():
        config = config.model_copy(update={"state_dir": (base_dir / config.state_dir).resolve()})
    if config.dlp is not None and not config.dlp.profiles_file.is_absolute():
        dlp = config.dlp.model_copy(
            update={"profiles_file": (base_dir / config.dlp.profiles_file).resolve()}
        )
        config = config.model_copy(update={"dlp": dlp})
    if config.policy is not None and not config.policy.file.is_absolute():
        policy = config.policy.model_copy(
            update={"file": (base_dir / config.policy.file).resolve()}
        )
        config = config.model_copy(update={"policy": policy})
    return config


def load_config(path: Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a YAML config file, raising ConfigError with every problem found."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            source, ["file not found: pass --config with the path of a warden YAML file"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot be read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(
            source, ["not valid YAML: collections nested too deeply; a config needs a few levels"]
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}: " if where is not None else ""
        raise ConfigError(
            source, [f"{line}not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    return parse_config(data, source, path.parent, dict(os.environ) if env is None else env)
