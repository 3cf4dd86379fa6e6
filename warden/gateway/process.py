"""Process wiring: one mitmproxy Master and the aiohttp control plane on one event loop.

Only the mitmproxy addons the gateway needs are loaded (no script loader, no replay, no
map-local): each one more is attack surface and per-flow work.

`Gateway.run` builds the domains (`_domains`: catalog, state, audit trail, identity,
SCIM, policy, DLP, in the order each needs the ones before), then by role hands them to
the control plane or a proxy worker (`roles.py`), or builds the proxy (`_proxy`) and
serves it with its control plane in this process (`_serve`, which stops everything in
the reverse order in one ``finally``).

Over 400 lines because the three steps share one set of parts (`Built`) whose start and
stop order is the process's; each step reads top to bottom in that order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from mitmproxy import options
from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver
from mitmproxy.master import Master

from warden.addons.audit import Audit
from warden.addons.connections import ConnectionGuard, ConnectionLimits
from warden.addons.identify import Identify
from warden.addons.leafcert import NamedLeafTlsConfig
from warden.addons.pipeline import Pipeline
from warden.addons.policy import PolicyEnforcer
from warden.addons.uploads import UploadInspector
from warden.audit.fleet_status import STATUS_FILE
from warden.certs import CAError, init_ca, load_ca
from warden.config import Config, ConfigError
from warden.files import ExtractLimits
from warden.gateway import stages
from warden.gateway.admin_api import AdminApi, load_or_create_admin_token
from warden.gateway.control import build_app, serve_control_plane
from warden.gateway.metrics import GatewayMetrics
from warden.gateway.pac import gateway_pac, pac_routes
from warden.gateway.portal_tls import portal_host
from warden.gateway.roles import ControlRole, Parts, WorkerRole, run_control_plane, run_worker
from warden.gateway.startup_check import StartupErrorCheck
from warden.gateway.state import store
from warden.gateway.wiring import coach_feed
from warden.gateway.wiring.audit import AuditTrail
from warden.gateway.wiring.evidence import build_evidence
from warden.gateway.wiring.identity import IdentityParts, build_identity
from warden.gateway.wiring.policy import PolicyRuntime, coach_link_key
from warden.gateway.wiring.scim import ScimRuntime
from warden.providers.catalog import Catalog

if TYPE_CHECKING:
    from warden.addons.redact import Redactor
    from warden.dlp import DlpRunner

logger = logging.getLogger("warden.gateway")


def build_catalog(config: Config) -> Catalog:
    """The default catalog plus the config's extra hosts; unknown service ids are errors."""
    catalog = Catalog.default()
    known = {s.id for s in catalog.services}
    problems = [
        f"catalog.extra_hosts.{sid}: unknown service; known services are {', '.join(sorted(known))}"
        for sid in config.catalog.extra_hosts
        if sid not in known
    ]
    if problems:
        raise ConfigError("config", problems)
    for sid, hosts in config.catalog.extra_hosts.items():
        catalog = catalog.with_extra_hosts(sid, hosts)
    return catalog


def ensure_ca(config: Config, catalog: Catalog) -> Path:
    """Load the interception CA, creating it on first start; returns the certificate's path."""
    try:
        return load_ca(config.ca_dir).cert_path
    except CAError:
        if (config.ca_dir / "mitmproxy-ca.pem").exists():
            raise  # a CA is there but broken: never replace it silently
    files = init_ca(
        config.ca_dir,
        common_name=config.ca.common_name,
        organization=config.ca.organization,
        name_constraints=_constraint_names(config, catalog) if config.ca.name_constraints else None,
        validity_days=config.ca.validity_days,
    )
    logger.info(
        "created the interception CA in %s (fingerprint %s)",
        config.ca_dir,
        files.fingerprint_sha256,
    )
    return files.cert_path


def _constraint_names(config: Config, catalog: Catalog) -> tuple[str, ...]:
    """The catalog's domains, plus the portal's DNS name so the CA can issue its certificate."""
    names = list(catalog.name_constraint_domains())
    host = portal_host(config)
    if host is not None and not host.replace(".", "").isdigit() and ":" not in host:
        names.append(host.lower())
    return tuple(names)


def _is_app_origin(catalog: Catalog, origin: str) -> bool:
    """``https://<a web-app host of the catalog>`` (no path, no port)."""
    scheme, _, host = origin.partition("://")
    if scheme != "https" or not host or "/" in host or ":" in host:
        return False
    service = catalog.match(host)
    return service is not None and service.kind == "webapp"


def fleet_policy(
    policy: PolicyRuntime,
    database: store.StateDatabase,
    config: Config,
    publisher: bool,
    metrics: GatewayMetrics,
) -> tuple[tuple[str, ...], Callable[[], None]]:
    """Keep ``policy`` in step with the fleet's version in force; what to watch for it."""
    from warden.gateway.wiring.policy_fleet import TABLES, FleetPolicy, instance_name
    from warden.policy.published import PublishedPolicies

    fleet = FleetPolicy(
        policy,
        PublishedPolicies(database.connect()),
        instance_name(config.control.listen.port),
        publisher=publisher,
        metrics=metrics,
    )
    return TABLES, fleet.follow


def connection_limits(config: Config) -> ConnectionLimits:
    limits = config.proxy.limits
    return ConnectionLimits(
        header_bytes=limits.header_bytes,
        header_seconds=limits.header_seconds,
        connections_per_client=limits.connections_per_client,
        pending_heads_per_client=limits.pending_heads_per_client,
        body_bytes=limits.body_bytes,
    )


def configure_mitmproxy(opts: options.Options, config: Config, catalog: Catalog) -> None:
    """Set mitmproxy's options; call after the addons that declare them were added."""
    from warden.addons.scope import allow_hosts_patterns

    opts.update(
        mode=["regular"],
        listen_host=config.proxy.listen.host,
        listen_port=config.proxy.listen.port,
        confdir=str(config.ca_dir),
        allow_hosts=allow_hosts_patterns(catalog.all_host_patterns()),
        # The test bed's catalog hosts do not resolve; lazy lets the routing addon pick
        # the loopback upstream before any connection is made.
        connection_strategy=(
            "lazy" if config.unsafe_testing is not None else config.proxy.connection_strategy
        ),
        # proxy.limits: mitmproxy reads no body over this size, and closes silent
        # connections (the rest of the limits are warden.addons.connections' and the stages').
        body_size_limit=str(config.proxy.limits.body_bytes),
        tcp_timeout=config.proxy.limits.idle_seconds,
    )


def proxy_not_listening(server: proxyserver.Proxyserver) -> str:
    """For /healthz: "" once every proxy listener accepts connections (mitmproxy opens
    them when the master runs, after the audit writer and the DLP workers are up)."""
    instances = list(server.servers)
    if instances and not server.servers.is_updating and all(i.is_running for i in instances):
        return ""
    return "the proxy port does not listen yet"


@dataclass(slots=True)
class Built:
    """One process's domain parts, built by ``Gateway._domains``."""

    catalog: Catalog
    pac: list[web.RouteDef]
    database: store.StateDatabase
    ca_cert: Path
    trail: AuditTrail
    identity: IdentityParts
    identify: Identify
    scim: ScimRuntime
    policy: PolicyRuntime | None
    enforcer: PolicyEnforcer | None
    changes: Any
    dlp: DlpRunner | None
    redactor: Redactor | None

    @property
    def state(self) -> sqlite3.Connection:
        return self.database.conn


@dataclass
class Gateway:
    config: Config
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    #: None: the whole gateway in this process (proxy.workers: 1). Else this process is
    #: the supervisor's control plane or one of its proxy workers (warden.gateway.supervisor).
    role: ControlRole | WorkerRole | None = None

    async def run(self) -> None:
        """Build this process's parts and run them until a signal stops them: the control
        plane's role, a proxy worker's, or (one process) the proxy and its control plane."""
        # Threads that hand results back to the event loop (asyncio.to_thread: policy
        # counters, audit retention, session reloads) would, with CPython's default 5 ms GIL
        # switch interval, wait that long behind the loop at each hand-over. (The DLP pool
        # and the audit writer, once such threads too, are processes now; the loop reads
        # the DLP workers' sockets itself.)
        sys.setswitchinterval(0.0005)
        built = self._domains()
        role = self.role
        if isinstance(role, ControlRole):
            parts = Parts(built.state, built.trail, built.identity, built.policy, None)
            await run_control_plane(
                role, self.config, self.metrics, parts, built.ca_cert, built.scim, built.pac
            )
            return
        master, proxy_server = self._proxy(built)
        if isinstance(role, WorkerRole):
            parts = Parts(built.state, built.trail, built.identity, built.policy, built.dlp)
            await run_worker(role, master, proxy_server, parts, self.metrics, self.config.state_dir)
            return
        await self._serve(built, master, proxy_server)

    def _domains(self) -> Built:
        """The catalog, state, audit trail, identity, SCIM, policy and DLP of this process,
        in the order each needs the ones before it."""
        config = self.config
        role = self.role
        worker = role if isinstance(role, WorkerRole) else None
        control = role if isinstance(role, ControlRole) else None
        catalog = build_catalog(config)
        try:
            pac = pac_routes(gateway_pac(config, catalog))
        except ValueError as exc:  # listening on 0.0.0.0 with no public_url: address unknown
            logger.warning("no /proxy.pac: %s", exc)
            pac = []
        database = store.open_database(config)
        state = database.conn
        ca_cert = ensure_ca(config, catalog)
        tenants = config.identity.tenants
        trail = AuditTrail(
            config.audit,
            config.audit_dir,
            {t.id: t.audit_on_failure for t in tenants if t.audit_on_failure},
            {t.id: t.audit_retention_days for t in tenants if t.audit_retention_days},
            workers_socket=role.audit_socket if role is not None else None,
            worker_id=worker.worker_id if worker is not None else None,
            instance_id=config.fleet.instance_id,
            ship_to_fleet=config.state.backend == "postgresql",
        )
        if config.state.backend == "postgresql" and worker is None:  # the writer's process
            self.metrics.watch_fleet_shipping(trail.db_path.parent / STATUS_FILE)
        identity = build_identity(
            config, state, trail, lambda host: catalog.match(host) is not None
        )
        if not identity.enforce:
            logger.warning(
                "identity.mode is 'off': flows are NOT bound to a person. Use only for trials."
            )
        identify = Identify(identity.resolver, identity.settings, trail, identity.enforce)
        reviewer_groups = {t.id: set(t.reviewer_groups) for t in config.identity.tenants}
        identity.portal.roles_of = lambda u: (
            ("reviewer",) if reviewer_groups.get(u.tenant, set()) & set(u.groups) else ()
        )
        scim = ScimRuntime(config, state, identity.sessions, trail.admin)
        if scim.enabled:
            identity.portal.user_allowed = scim.allows
            identity.resolver.user_allowed = scim.remembered
            identity.resolver.user_allowed_cached = scim.remembered.cached
            if worker is None:  # the control plane owns SCIM's writes
                scim.service.retry_deprovisioning()
        policy: PolicyRuntime | None = None
        enforcer: PolicyEnforcer | None = None
        profiles = None
        if config.dlp is not None:  # Presidio is imported only when DLP is configured
            from warden.gateway.wiring.dlp import load_dlp_profiles

            profiles = load_dlp_profiles(config)
        if config.policy is not None:
            policy = PolicyRuntime(
                config.policy.file,
                database.connect(),
                {t.id for t in config.identity.tenants},
                set(profiles) if profiles is not None else None,
                trail.admin,
                identity.settings.public_url,
                lambda host: catalog.match(host) is not None,
                shared_quotas=database.backend == "postgresql",
                state_db=config.state_db if database.backend == "sqlite" else None,
                coach_key=coach_link_key(config.state_dir),
            )
            enforcer = PolicyEnforcer(
                policy, identity.settings.company, identity.settings.help_contact
            )
        else:
            logger.warning("no policy configured: every signed-in flow is allowed")
        # a fleet on PostgreSQL: what another instance commits reaches this one's memory,
        # and the policy version in force is taken before anything is served
        watched: list[tuple[Iterable[str], Callable[[], None]]] = [
            (store.SESSION_TABLES, identity.sessions.reload)
        ]
        if scim.enabled:  # a SCIM change elsewhere: cached identities and answers look again
            watched.append((store.SCIM_TABLES, identity.sessions.recheck))
        if policy is not None and database.backend == "postgresql":
            watched.append(fleet_policy(policy, database, config, worker is None, self.metrics))
            # coaching acknowledgements count on every instance (wiring/coach_feed.py)
            feed = policy.share_acknowledgements_in_fleet(database.connect())
            watched.append(((coach_feed.TABLE,), feed.take_in))
        changes = database.watch(watched)
        dlp_runner: DlpRunner | None = None
        redactor: Redactor | None = None
        if profiles is not None and config.dlp is not None and control is None:
            from warden.addons.redact import Redactor
            from warden.gateway.wiring.dlp import build_runner

            dlp_runner = build_runner(config, profiles)
            redactor = Redactor(
                dlp_runner,
                enforcer,
                config.dlp.default_profile,
                identity.settings.company,
                identity.settings.help_contact,
            )
        return Built(
            catalog, pac, database, ca_cert, trail, identity, identify, scim, policy,
            enforcer, changes, dlp_runner, redactor,
        )  # fmt: skip

    def _proxy(self, built: Built) -> tuple[Master, proxyserver.Proxyserver]:
        """The mitmproxy master with the gateway's addon chain, configured, not started."""
        config, catalog = self.config, built.catalog
        policy, enforcer, dlp_runner = built.policy, built.enforcer, built.dlp
        identity, identify, trail, redactor = (
            built.identity, built.identify, built.trail, built.redactor
        )  # fmt: skip
        # Sealed evidence: the capture stages exist whenever a policy may ask for evidence.
        evidence = (
            build_evidence(config, trail.db_path, policy.holder.get())
            if policy is not None
            else None
        )

        files = config.dlp.files if config.dlp is not None else None
        uploads = UploadInspector(
            dlp_runner,
            enforcer,
            config.dlp.default_profile if config.dlp is not None else None,
            ExtractLimits(files.max_text_chars, files.max_unpacked_bytes, files.max_entries)
            if files is not None
            else ExtractLimits(),
            config.proxy.limits.decoded_body_bytes,
            identity.settings.company,
            identity.settings.help_contact,
            lambda origin: _is_app_origin(catalog, origin),
        )

        master = Master(options.Options(), with_termlog=False)
        proxy_server = proxyserver.Proxyserver()
        master.addons.add(
            core.Core(),
            proxy_server,
            next_layer.NextLayer(),
            NamedLeafTlsConfig(),
            disable_h2c.DisableH2C(),
            Pipeline(
                [
                    # first: its connection hooks run before any stage sees the connection
                    ConnectionGuard(
                        connection_limits(config), proxy_server.connections, self.metrics
                    ),
                    *stages.chain(
                        config,
                        catalog,
                        self.metrics,
                        identify,
                        Audit(trail, evidence.details_of if evidence is not None else None),
                        enforcer,
                        redactor,
                        evidence,
                        uploads,
                    ),
                ]
            ),
        )
        # mitmproxy's start-up error check; it leaves the chain once start-up is over
        master.addons.add(StartupErrorCheck(master.addons))
        configure_mitmproxy(master.options, config, catalog)
        self.metrics.unsafe_test_routing.set(1 if config.unsafe_testing is not None else 0)
        return master, proxy_server

    async def _serve(
        self, built: Built, master: Master, proxy_server: proxyserver.Proxyserver
    ) -> None:
        """One process: the control plane beside the proxy, the background tasks, then the
        proxy until a signal; everything stopped in the reverse order."""
        config = self.config
        identity, trail, policy, dlp_runner = built.identity, built.trail, built.policy, built.dlp
        scim, pac, ca_cert = built.scim, built.pac, built.ca_cert
        changes, database = built.changes, built.database
        unsafe = config.unsafe_testing is not None
        admin = AdminApi(
            load_or_create_admin_token(config.state_dir), identity.sessions, trail.admin
        )
        app = build_app(
            self.metrics,
            ca_cert,
            {"unsafe_test_routing": unsafe},
            routes=[
                *identity.portal.routes(),
                *admin.routes(),
                *(policy.routes() if policy else []),
                *(scim.routes(identity.settings.public_url) if scim.enabled else []),
                *pac,
            ],
            probes={"audit_writer": trail.writer_problem},
            starting=lambda: proxy_not_listening(proxy_server),
        )
        self.metrics.audit_writer_up.set_function(lambda: 1.0 if trail.writer.running else 0.0)
        trail.writer.on_restart = self.metrics.audit_writer_restarts.inc
        runner = await serve_control_plane(app, config)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, master.shutdown)
        # SIGHUP (systemctl reload) re-reads the policy; without one it must not stop us.
        loop.add_signal_handler(
            signal.SIGHUP, policy.reload_now if policy is not None else (lambda: None)
        )
        logger.info(
            "proxy on %s:%d, control plane on %s://%s:%d",
            config.proxy.listen.host,
            config.proxy.listen.port,
            "https" if config.control.tls else "http",
            config.control.listen.host,
            config.control.listen.port,
        )
        await trail.start()
        if dlp_runner is not None:
            await dlp_runner.start()  # workers import Presidio now, not on the first request
        trail.admin(
            "gateway.started", None, {"unsafe_test_routing": unsafe, "identity": identity.enforce}
        )
        discovery = asyncio.create_task(identity.discover(), name="idp-discovery")
        rechecks = asyncio.create_task(identity.keep_checking(), name="idp-rechecks")
        retention = asyncio.create_task(trail.keep_purging(), name="audit-retention")
        background = [discovery, rechecks, retention]
        # Everything built so far (config, catalog, policy, imported modules) lives as long
        # as the process: move it out of the collector's sight, so that the collections
        # the flows' short-lived objects trigger do not walk it again and again.
        gc.collect()
        gc.freeze()
        if policy is not None:
            await policy.start()
            background.append(asyncio.create_task(policy.keep_flushing(), name="quota-flush"))
        try:
            await master.run()
        finally:
            for task in background:
                task.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if policy is not None:
                await policy.stop()
            if dlp_runner is not None:
                await dlp_runner.close()
            await runner.cleanup()
            await identity.aclose()
            trail.admin("gateway.stopped", None, {})
            await trail.stop()
            if changes is not None:
                changes.stop()
            database.close()
            logger.info("stopped")
