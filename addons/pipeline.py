"""Pipeline: the warden chain as one mitmproxy addon, failing closed when a stage raises.

mitmproxy dispatches every hook to every addon in its chain, and after each flow hook it
dispatches an ``update`` hook to all of them again; each visit walks a generator, looks
the hook up by name and enters an error guard, whether the addon implements the hook or
not. With the warden's addons registered one by one that bookkeeping was a large share of
a request's cost (bench/proxy.py). The pipeline registers once and calls, per hook, only
the stages that implement it, in chain order, through lists built at start-up.

It also changes what a failing stage means. mitmproxy logs an addon's exception and lets
the flow go on, so a bug in identification or policy would have sent the request upstream
unchecked. Here an exception in a stage before the request leaves (``http_connect``,
``requestheaders``, ``request``) answers the client with a 502 in the provider's error
shape and marks the flow ``gateway_error``; on ``server_connect`` it refuses the upstream
connection; later stages (response side) are logged and the remaining stages still run,
so the flow is still audited. An exception on a client's WebSocket message drops it and
stops the session (``addons/websocket.py``). Lifecycle hooks (``load``, ``configure``, ``running``,
``done``) raise as before, so start-up problems stop the gateway.

After the last stage of ``response`` or ``error`` the flow's decoded context is let go
(``context.forget``): no stage reads it after that, and it is freed at once instead of
with the flow, which only the cycle collector frees (fewer objects for it to walk: ~3 µs
per request).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from mitmproxy import http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from warden.addons import flowcontext as context
from warden.addons import websocket
from warden.addons.answers import answer_error
from warden.addons.flowcontext import FlowContext

logger = logging.getLogger("warden.pipeline")

#: Hooks that run before the request is sent upstream: a failure there refuses the flow.
REQUEST_HOOKS: Final = ("http_connect", "requestheaders", "request")
#: Hooks after the upstream answered: a failure is logged, the other stages still run.
RESPONSE_HOOKS: Final = ("responseheaders", "response", "error")
LIFECYCLE_HOOKS: Final = ("load", "configure", "running", "done")
#: WebSocket hooks: a failure on a client message drops it and stops the session
#: (addons/websocket.py); on a server message, at the start or the end, it is logged.
WEBSOCKET_HOOKS: Final = ("websocket_start", "websocket_message", "websocket_end")
#: Connection hooks (the connection guard's): straight through, as a separate addon's
#: would be; in the pipeline they spare every flow hook a visit to one more addon.
CONNECTION_HOOKS: Final = ("client_connected", "client_disconnected", "next_layer")
HOOKS: Final = (
    *LIFECYCLE_HOOKS,
    *CONNECTION_HOOKS,
    *REQUEST_HOOKS,
    "server_connect",
    *RESPONSE_HOOKS,
    *WEBSOCKET_HOOKS,
)

type _Call = Callable[[Any], object]


class _Stage:
    __slots__ = ("call", "is_async", "name")

    def __init__(self, addon: object, call: _Call) -> None:
        self.name = type(addon).__name__
        self.call = call
        self.is_async = inspect.iscoroutinefunction(call)


class Pipeline:
    """Calls each hook on the addons of ``stages`` that define it, in their order.

    Per hook the pipeline exposes to mitmproxy either nothing (no stage implements it), a
    plain function (every stage is synchronous: no coroutine per call) or a coroutine
    function.
    """

    def __init__(self, stages: Sequence[object]) -> None:
        self.stages = tuple(stages)
        for addon in self.stages:
            if hasattr(addon, "addons"):
                raise TypeError(f"{type(addon).__name__}: nested addons are not supported")
            for hook in ("load", "configure"):
                if inspect.iscoroutinefunction(getattr(addon, hook, None)):
                    raise TypeError(f"{type(addon).__name__}.{hook} must not be async")
        self._by_hook: dict[str, tuple[_Stage, ...]] = {
            hook: tuple(
                _Stage(addon, call)
                for addon in self.stages
                if callable(call := getattr(addon, hook, None))
            )
            for hook in HOOKS
        }
        for hook, stages_of_hook in self._by_hook.items():
            if not stages_of_hook:
                setattr(self, hook, None)  # mitmproxy skips an addon whose hook is None
            elif hook in REQUEST_HOOKS:
                setattr(self, hook, _dispatcher(stages_of_hook, _refuse_flow(hook), stop=True))
            elif hook in RESPONSE_HOOKS:
                run = _dispatcher(stages_of_hook, _mark_flow(hook), stop=False)
                setattr(self, hook, _then_forget(run) if hook in ("response", "error") else run)
            elif hook == "server_connect":
                setattr(self, hook, _dispatcher(stages_of_hook, _refuse_connection, stop=True))
            elif hook == "websocket_message":
                setattr(self, hook, _dispatcher(stages_of_hook, _stop_socket, stop=True))
            elif hook in WEBSOCKET_HOOKS:
                setattr(self, hook, _dispatcher(stages_of_hook, _log_socket(hook), stop=False))
            elif hook in CONNECTION_HOOKS:
                setattr(self, hook, _straight(stages_of_hook))

    def implementers(self, hook: str) -> list[str]:
        """The stage names that run on ``hook``, in order (for tests and ``warden doctor``)."""
        return [s.name for s in self._by_hook[hook]]

    # Lifecycle: straight through, exceptions propagate to mitmproxy (start-up must fail).
    # mitmproxy calls load and configure from synchronous code: those stages must be sync.
    def load(self, loader: object) -> None:
        for stage in self._by_hook["load"]:
            stage.call(loader)

    def configure(self, updated: set[str]) -> None:
        for stage in self._by_hook["configure"]:
            stage.call(updated)

    async def running(self) -> None:
        await self._lifecycle("running")

    async def done(self) -> None:
        await self._lifecycle("done")

    async def _lifecycle(self, hook: str) -> None:
        for stage in self._by_hook[hook]:
            result = stage.call()  # type: ignore[call-arg]
            if stage.is_async:
                await result  # type: ignore[misc]


type _Failed = Callable[[_Stage, Any], None]


def _dispatcher(stages: tuple[_Stage, ...], failed: _Failed, *, stop: bool) -> _Call:
    """Call ``stages`` in order on one hook's argument; a stage that raises is handed to
    ``failed`` and, with ``stop``, the stages after it do not run. A plain function when
    every stage is synchronous (no coroutine per call), else a coroutine function."""
    if not any(stage.is_async for stage in stages):

        def run_sync(arg: Any) -> None:
            for stage in stages:
                try:
                    stage.call(arg)
                except Exception:
                    failed(stage, arg)
                    if stop:
                        return

        return run_sync

    async def run(arg: Any) -> None:
        for stage in stages:
            try:
                result = stage.call(arg)
                if stage.is_async:
                    await result  # type: ignore[misc]
            except Exception:
                failed(stage, arg)
                if stop:
                    return

    return run


def _straight(stages: tuple[_Stage, ...]) -> _Call:
    """Call ``stages`` in order; an exception goes to mitmproxy as from any addon."""
    if any(stage.is_async for stage in stages):
        raise TypeError(f"{stages[0].name}: connection hooks must not be async")

    def run(arg: Any) -> None:
        for stage in stages:
            stage.call(arg)

    return run


def _then_forget(run: _Call) -> _Call:
    """``run``, then let go of the flow's decoded context (see the module docstring)."""
    if not inspect.iscoroutinefunction(run):

        def run_sync(flow: Any) -> None:
            run(flow)
            context.forget(flow)

        return run_sync

    async def run_async(flow: Any) -> None:
        await run(flow)
        context.forget(flow)

    return run_async


def _refuse_flow(hook: str) -> _Failed:
    """Before the request leaves: answer it ourselves, nothing goes upstream."""

    def failed(stage: _Stage, flow: http.HTTPFlow) -> None:
        logger.exception(
            "%s failed on %s for %s; the request was refused",
            stage.name,
            hook,
            flow.request.pretty_host,
        )
        refuse(flow, stage.name)

    return failed


def _mark_flow(hook: str) -> _Failed:
    """After the upstream answered: log, mark the flow; the other stages (audit) still run."""

    def failed(stage: _Stage, flow: http.HTTPFlow) -> None:
        logger.exception("%s failed on %s for %s", stage.name, hook, flow.request.pretty_host)
        FlowContext.of(flow).replace(outcome="gateway_error").save(flow)

    return failed


def _refuse_connection(stage: _Stage, data: ServerConnectionHookData) -> None:
    logger.exception("%s failed on server_connect; connection refused", stage.name)
    data.server.error = (
        f"Egress Warden refused this connection: an internal check ({stage.name}) "
        "failed; see the gateway log"
    )


def _stop_socket(stage: _Stage, flow: http.HTTPFlow) -> None:
    """A stage failed on a WebSocket message: a client message is not forwarded and the
    session stops; a server message is logged and goes on (the answer side)."""
    assert flow.websocket is not None
    message = flow.websocket.messages[-1]
    if not message.from_client or message.injected:
        logger.exception("%s failed on a WebSocket message from %s", stage.name, flow.request.host)
        return
    logger.exception(
        "%s failed on a WebSocket message to %s; the session was stopped",
        stage.name,
        flow.request.pretty_host,
    )
    websocket.mute(
        flow,
        f"Egress Warden could not check this message (internal error in {stage.name}), so "
        "it was not sent and this session is stopped. Tell your IT service desk; the "
        "gateway log has the details.",
    )


def _log_socket(hook: str) -> _Failed:
    def failed(stage: _Stage, flow: http.HTTPFlow) -> None:
        logger.exception("%s failed on %s for %s", stage.name, hook, flow.request.pretty_host)

    return failed


def refuse(flow: http.HTTPFlow, stage: str) -> None:
    """Answer ``flow`` with a 502 the client's SDK can read, and mark it ``gateway_error``."""
    message = (
        f"Egress Warden could not check this request (internal error in {stage}), so it was "
        "not sent. Tell your IT service desk; the gateway log has the details."
    )
    answer_error(flow, 502, message, "warden_internal_error", "gateway_error")
