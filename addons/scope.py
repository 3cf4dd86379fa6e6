"""Scope: which flows Egress Warden intercepts, which it passes through, which it refuses.

TLS is intercepted only for hosts in the LLM catalog. mitmproxy's own ``allow_hosts``
option does the pass-through (every other CONNECT becomes a raw TCP tunnel, so the client
sees the real server's certificate); ``allow_hosts_patterns`` builds its value from the
catalog. This addon refuses unsanctioned AI hosts at CONNECT and records, for each
intercepted flow, what the provider adapter made of the request.

A flow is judged on what is actually intercepted, never on the CONNECT target alone:
the TLS SNI and the Host header count as much as the target (``addons/names.py`` says
how they are reconciled). A flow whose target is an IP literal but whose SNI or Host
names a catalog host is judged as that service and sent to its real host name; names
that disagree around a catalog host are refused with 421 and recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mitmproxy import http
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import layer, layers
from mitmproxy.proxy.layers.tls import parse_client_hello

from warden.addons.answers import answer, answer_error
from warden.addons.bodies import BodyTooLarge, UndecodableBody, decoded
from warden.addons.connections import MITMPROXY_REQUEST_TOO_LARGE, Refused
from warden.addons.flowcontext import CatalogDestination, Decision, FlowContext
from warden.addons.flowstate import state, state_of
from warden.addons.metrics import FlowMetrics
from warden.addons.names import Misdirected, is_address, judge
from warden.providers import conversations
from warden.providers.catalog import Catalog, Service
from warden.providers.parse import parse_request
from warden.providers.shapes import ParsedRequest

logger = logging.getLogger("warden.scope")


def parsed_request(flow: http.HTTPFlow) -> ParsedRequest | None:
    """What the adapter parsed, prompt text included: in the flow's state, in memory only
    (the flow's metadata is saved and shown, and must never hold prompt text)."""
    kept = state_of(flow)
    return kept.parsed if kept is not None else None


@dataclass(frozen=True, slots=True)
class RefusedHost:
    pattern: str
    reason: str

    def matches(self, host: str) -> bool:
        if self.pattern.startswith("*."):
            return host.endswith(self.pattern[1:])
        return host == self.pattern


def allow_hosts_patterns(patterns: Iterable[str]) -> list[str]:
    """One anchored regex over ``host:port`` for mitmproxy's ``allow_hosts`` option.

    mitmproxy matches it with ``re.search`` against the CONNECT target, the SNI and the
    Host header, each as ``host:port``; anchoring at both ends keeps
    ``api.openai.com.evil.test`` and ``evilapi.openai.com`` out.
    """
    alternatives = []
    for pattern in sorted(set(patterns)):
        if pattern.startswith("*."):
            alternatives.append(r"(?:[a-z0-9-]+\.)+" + re.escape(pattern[2:]))
        else:
            alternatives.append(re.escape(pattern))
    return [r"^(?:" + "|".join(alternatives) + r")\.?:\d+$"]


#: How many distinct Host spellings Scope remembers the destination of.
MAX_REMEMBERED_HOSTS = 4096
#: The default bound on a request body once content-decoded (``proxy.limits``).
DECODED_BODY_BYTES = 64 * 1024 * 1024


def _host_header(request: http.Request) -> str | None:
    """The host the request names in its head: the Host field, or HTTP/2's ``:authority``.

    A request naming two different hosts there (two Host fields, or an ``:authority``
    and a Host field that differ, which mitmproxy would pass on as the HTTP/1 Host) gets
    them joined as mitmproxy's ``host_header`` joins repeated fields: a name no host has,
    so when one of them is a catalog host the flow is refused as misdirected (RFC 9112
    3.2 answers two Host fields with 400 anyway). One pass over the field names, with no
    lower-casing of names that cannot be ``host`` (mitmproxy's lookup lower-cases all).
    """
    hosts = [
        value
        for name, value in request.data.headers.fields
        if len(name) == 4 and name.lower() == b"host"
    ]
    if request.is_http2 or request.is_http3:
        authority = request.data.authority
        if authority:
            hosts = [authority, *(h for h in hosts if h != authority)]
    if not hosts:
        return None
    if len(hosts) == 1:
        return hosts[0].decode("utf-8", "surrogateescape")
    return ", ".join(h.decode("utf-8", "surrogateescape") for h in hosts)


def _normalize(host: str) -> str:
    return host.lower().rstrip(".")


class Scope:
    def __init__(
        self,
        catalog: Catalog,
        refused: Sequence[RefusedHost],
        metrics: FlowMetrics,
        decoded_body_bytes: int = DECODED_BODY_BYTES,
        threads: conversations.ResponseThreads | None = None,
    ) -> None:
        self.catalog = catalog
        self.refused = tuple(refused)
        #: OpenAI Responses chains, shared with the response reader, which adds the answers.
        self.threads = threads if threads is not None else conversations.ResponseThreads()
        self.metrics = metrics
        self.decoded_body_bytes = decoded_body_bytes
        # The destination (None: not in the catalog) per Host as clients spell it: the same
        # few hosts come again and again. Bounded, as clients choose what they send.
        self._destinations: dict[str, CatalogDestination | None] = {}

    def _refusal(self, host: str) -> RefusedHost | None:
        if not self.refused:
            return None
        host = _normalize(host)
        return next((r for r in self.refused if r.matches(host)), None)

    def _refuse(self, flow: http.HTTPFlow, refusal: RefusedHost) -> None:
        body = f"Egress Warden refused the connection to {flow.request.host}: {refusal.reason}\n"
        headers = {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"}
        answer(flow, 403, body, headers, "refused_host")

    def http_connect(self, flow: http.HTTPFlow) -> None:
        # The labels say what the CONNECT target names; only the TLS SNI or Host that
        # follow decide a target that is no catalog host (``by_address``: an IP literal;
        # ``passthrough``: another name, refused later if its SNI names a catalog host).
        if flow.response or flow.error:
            return
        host = flow.request.host
        if refusal := self._refusal(host):
            logger.info("refused CONNECT to unsanctioned host %s", _normalize(host))
            self.metrics.connects.labels("blocked").inc()
            self._refuse(flow, refusal)
        elif self.catalog.match(host):
            self.metrics.connects.labels("intercept").inc()
        elif is_address(host):
            self.metrics.connects.labels("by_address").inc()
        else:
            self.metrics.connects.labels("passthrough").inc()

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        """A tunnel whose TLS ClientHello names an unsanctioned host is closed.

        mitmproxy passes a TLS connection through (a TCP tunnel to the CONNECT target)
        when no name it carries is in the catalog, so no request hook ever sees it: a
        CONNECT by IP (or by any harmless name) with the SNI of an unsanctioned service
        reached that service untouched. The decision here reads the same ClientHello
        mitmproxy read to make its own, and only for connections it is passing through.
        """
        if not self.refused or not isinstance(nextlayer.layer, layers.TCPLayer):
            return
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return  # not a ClientHello mitmproxy can read: it decided without its SNI too
        if hello is None or not hello.sni or (refusal := self._refusal(hello.sni)) is None:
            return
        client = nextlayer.context.client
        logger.info(
            "closed a tunnel from %s whose TLS server name is the unsanctioned host %s (%s)",
            client.peername[0] if client.peername else "-",
            _normalize(hello.sni),
            refusal.reason,
        )
        self.metrics.scope_by_name.labels("blocked").inc()
        nextlayer.layer = Refused(nextlayer.context)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        request = flow.request
        host = request.host
        sni = flow.client_conn.sni
        host_header = _host_header(request)
        if (sni is None or sni == host) and (host_header is None or host_header == host):
            # Every name the flow carries is the target, byte for byte (nearly every flow).
            if refusal := self._refusal(host):
                self._refuse(flow, refusal)
                return
            destination = self._destination_of(host)
        else:
            destination = self._judge_names(flow, host, sni, host_header)
        if destination is None:
            return  # not ours: plain HTTP to some other site goes on untouched
        FlowContext.of(flow).replace(destination=destination).save(flow)

    def _judge_names(
        self, flow: http.HTTPFlow, target: str, sni: str | None, host_header: str | None
    ) -> CatalogDestination | None:
        """The destination of a flow whose names differ (see ``addons/names.py``)."""
        for name in (target, sni, host_header):
            if name and (refusal := self._refusal(name)):
                self._refuse(flow, refusal)
                return None
        verdict = judge(
            target,
            sni,
            host_header,
            lambda name: self.catalog.match(name) is not None,
            target_label="CONNECT target" if flow.client_conn.tls else "request target",
        )
        if verdict is None:
            return None
        if isinstance(verdict, Misdirected):
            self._misdirected(flow, verdict)
            return None
        destination = self._destination_of(verdict)
        if destination is not None and is_address(target):
            # Judged as the service its SNI or Host names: it goes to that service's
            # real host, never to the address the client chose.
            flow.request.host = verdict
            self.metrics.scope_by_name.labels("intercept").inc()
        return destination

    def _misdirected(self, flow: http.HTTPFlow, verdict: Misdirected) -> None:
        logger.warning(
            "refused a request from %s whose names disagree: %s",
            flow.client_conn.peername[0] if flow.client_conn.peername else "-",
            verdict.reason,
        )
        self.metrics.scope_by_name.labels("misdirected").inc()
        destination = self._destination_of(verdict.catalog_host)
        ctx = FlowContext.of(flow)
        ctx.replace(
            destination=destination,
            decision=Decision("block", "scope.misdirected", "-", verdict.reason),
        ).save(flow)
        answer_error(
            flow,
            421,
            f"Egress Warden refused this request: {verdict.reason}.",
            "warden_misdirected_request",
            "refused_host",
            {"Connection": "close"},
        )

    def _destination_of(self, host: str) -> CatalogDestination | None:
        try:
            return self._destinations[host]
        except KeyError:
            pass
        service = self.catalog.match(host)
        destination = None if service is None else self._destination(service, host)
        if len(self._destinations) < MAX_REMEMBERED_HOSTS:
            self._destinations[host] = destination
        return destination

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        service = self.catalog.service(ctx.destination.service_id)
        raw = flow.request.raw_content or b""
        try:
            body = decoded(
                raw, flow.request.headers.get("content-encoding"), self.decoded_body_bytes
            )
        except BodyTooLarge as exc:
            self._too_large(flow, exc)
            return
        except UndecodableBody:
            body = raw  # as sent: the adapter finds no shape in it, policy decides on that
        parsed = parse_request(
            service,
            flow.request.method,
            flow.request.path,
            flow.request.headers,  # read by the adapters that need it (Bedrock) only
            body,
        )
        state(flow).parsed = parsed
        ctx.replace(
            destination=CatalogDestination(
                service_id=service.id,
                provider=service.provider,
                kind=service.kind,
                host=ctx.destination.host,
                api=parsed.api,
                model=parsed.model,
                stream=parsed.stream,
                parsed=parsed.parsed,
                unparsed_reason=parsed.unparsed_reason,
                segments=len(parsed.segments),
                conversation=self._conversation(parsed, flow.request.headers),
            )
        ).save(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        """A body over ``proxy.limits.body_bytes``: mitmproxy stops reading it and answers
        413 (in the gateway's words, see ``addons/connections.py``); the record says which
        limit refused it, as for every other limit."""
        if flow.error is None or flow.error.msg != MITMPROXY_REQUEST_TOO_LARGE:
            return
        self.metrics.limits.labels("body_bytes").inc()
        FlowContext.of(flow).replace(
            decision=Decision(
                "block",
                "limits.body_bytes",
                "-",
                "the request body is larger than proxy.limits.body_bytes",
            )
        ).save(flow)

    def _conversation(self, parsed: ParsedRequest, headers: http.Headers) -> str | None:
        """The body's or path's conversation (a Responses turn's previous answer mapped to
        its thread), else an agent's session header."""
        if parsed.conversation is not None:
            if parsed.api in conversations.RESPONSES_APIS:
                return self.threads.thread_of(parsed.conversation)
            return parsed.conversation
        return conversations.from_headers(headers)

    def _too_large(self, flow: http.HTTPFlow, exc: BodyTooLarge) -> None:
        """A body that decodes past the limit (a decompression bomb, or just too much)."""
        self.metrics.limits.labels("decoded_request_body").inc()
        logger.warning("refused a request to %s: %s", flow.request.pretty_host, exc)
        reason = f"the request body is larger than {exc.limit} bytes once decoded"
        FlowContext.of(flow).replace(
            decision=Decision("block", "limits.decoded_body_bytes", "-", reason)
        ).save(flow)
        answer_error(
            flow,
            413,
            f"Egress Warden refused this request: {reason} (proxy.limits.decoded_body_bytes). "
            "Send less at once.",
            "warden_request_too_large",
            "blocked",
            {"Connection": "close"},
        )

    @staticmethod
    def _destination(service: Service, host: str) -> CatalogDestination:
        return CatalogDestination(
            service_id=service.id,
            provider=service.provider,
            kind=service.kind,
            host=_normalize(host),
        )
