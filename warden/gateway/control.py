"""The control plane: an aiohttp app on its own port beside the proxy (health, CA, metrics).

Later issues mount the login portal, SCIM and the PAC file here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from warden import __version__
from warden.config import Config
from warden.gateway.metrics import GatewayMetrics
from warden.gateway.portal_tls import server_context

METRICS_KEY = web.AppKey("metrics", GatewayMetrics)
CA_CERT_KEY = web.AppKey("ca_cert", Path)
HEALTH_KEY = web.AppKey("health", str)
#: name -> a check that returns what is wrong (flows are being refused), or "" when fine.
type Probe = Callable[[], str]
PROBES_KEY = web.AppKey("probes", dict[str, Probe])
#: What the gateway still waits for before it serves (the proxy port), or "" once it does.
STARTING_KEY: web.AppKey[Callable[[], str]] = web.AppKey("starting")
#: What /metrics serves (with proxy.workers: every process's series, warden.gateway.worker_metrics).
RENDER_KEY: web.AppKey[Callable[[], bytes]] = web.AppKey("render_metrics")


# A year, the usual preload floor; no includeSubDomains: the portal's host name says
# nothing about which sibling hosts speak TLS.
HSTS = "max-age=31536000"


async def _strict_transport(request: web.Request, response: web.StreamResponse) -> None:
    """HSTS on every answer sent over TLS, so a browser never falls back to http for the
    portal (its cookies are Secure, the login would break half-way)."""
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)


async def healthz(request: web.Request) -> web.Response:
    # The facts fixed at start are serialized once; the probes are asked each time.
    waiting = request.app[STARTING_KEY]()
    if waiting:  # a 200 promises a proxy that accepts connections
        body = {**json.loads(request.app[HEALTH_KEY]), "status": "starting", "waiting": waiting}
        return web.json_response(body, status=503)
    probes = request.app[PROBES_KEY]
    failing = {name: problem for name, probe in probes.items() if (problem := probe())}
    if not failing:
        return web.Response(text=request.app[HEALTH_KEY], content_type="application/json")
    body = {**json.loads(request.app[HEALTH_KEY]), "status": "unavailable", "failing": failing}
    return web.json_response(body, status=503)


async def ca_pem(request: web.Request) -> web.Response:
    # Only the certificate: the key file sits beside it and is never served.
    data = request.app[CA_CERT_KEY].read_bytes()
    return web.Response(
        body=data,
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="egress-warden-ca.pem"'},
    )


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS_KEY]
    return web.Response(body=request.app[RENDER_KEY](), headers={"Content-Type": m.content_type})


def build_app(
    metrics_: GatewayMetrics,
    ca_cert: Path,
    health: dict[str, object],
    routes: list[web.RouteDef] | None = None,
    probes: Mapping[str, Probe] | None = None,
    starting: Probe = lambda: "",
    render_metrics: Callable[[], bytes] | None = None,
    middlewares: list[Middleware] | None = None,
) -> web.Application:
    # SCIM group replacements with many members are the largest bodies here.
    app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares or [])
    app[METRICS_KEY] = metrics_
    app[CA_CERT_KEY] = ca_cert
    app[HEALTH_KEY] = json.dumps({"status": "ok", "version": __version__, **health})
    app[PROBES_KEY] = dict(probes or {})
    app[STARTING_KEY] = starting
    app[RENDER_KEY] = render_metrics or metrics_.render
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ca.pem", ca_pem)
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(routes or [])
    app.on_response_prepare.append(_strict_transport)
    return app


async def serve_control_plane(app: web.Application, config: Config) -> web.AppRunner:
    """Listen with ``app`` on ``control.listen`` (TLS when configured); the runner to clean
    up. A port that is taken stops the gateway with the fix, never a traceback."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listen = config.control.listen
    site = web.TCPSite(runner, listen.host, listen.port, ssl_context=server_context(config))
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(
            f"warden: cannot listen on {listen.host}:{listen.port} for the control plane "
            f"({exc.strerror}). Stop what uses that port or change control.listen.port."
        ) from None
    return runner
