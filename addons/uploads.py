"""Uploads: every file sent to a catalog service is seen, judged and recorded before it leaves.

For a request the parser named an upload (``providers.uploads``: the Files APIs, ChatGPT's
blob ``PUT``, Claude's and Gemini's upload endpoints), this stage reads the files from
the body, takes their facts (name, type sniffed from the bytes, size, SHA-256), applies
the person's upload policy (``policy.uploads``: allow, block, by type and size), and has
the DLP workers extract and scan each file's text (``DlpRunner.scan_file``: a process
pool, bounded in time; never on the event loop). A file that cannot be read (encrypted,
malformed, an archive bomb, a chunk of a larger file) is refused unless the policy says
``unreadable: allow``. A refused upload is answered here: a block page for a web app,
the provider's error shape for an API client. What a file held never leaves this
module: the audit record gets facts, entity types and counts (``uploaded_files``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from warden.addons.answers import answer_error
from warden.addons.bodies import BodyTooLarge, UndecodableBody, decoded
from warden.addons.flowcontext import Decision, EntityCount, FlowContext, Redaction
from warden.addons.flowstate import state, state_of
from warden.addons.policy import PolicyEnforcer, principal_facts, request_facts
from warden.audit.fields import fit_text
from warden.files import INSPECTED_KINDS, TEXT_KINDS, ExtractLimits, FileFacts, file_facts
from warden.policy import PAGE_HEADERS, PolicyDecision, block_page, block_response, decide
from warden.policy.uploads import FileVerdict, UploadRules, judge_file, judge_scan, upload_rules
from warden.providers.shapes import TextSegment
from warden.providers.uploads import (
    UPLOAD_APIS,
    UploadedFile,
    UploadError,
    read_upload,
    upload_route,
)

if TYPE_CHECKING:  # warden.dlp imports Presidio: only where DLP is configured
    from warden.dlp.plan import FindingCount
    from warden.dlp.pool import DlpRunner

logger = logging.getLogger("warden.uploads")

#: Files above this size have their facts (SHA-256, sniffing) taken in a thread, so the
#: event loop never hashes megabytes itself.
THREAD_FACTS_BYTES = 256 * 1024


def uploaded_files(flow: http.HTTPFlow) -> tuple[dict[str, Any], ...] | None:
    """The audit record's ``files`` of a flow (``None``: no upload)."""
    kept = state_of(flow)
    return kept.files if kept is not None else None


class UploadInspector:
    def __init__(
        self,
        runner: DlpRunner | None,
        enforcer: PolicyEnforcer | None,
        default_profile: str | None,
        limits: ExtractLimits,
        decoded_body_bytes: int,
        company: str,
        contact: str,
        app_origin: Callable[[str], bool] = lambda origin: False,
    ) -> None:
        """``app_origin`` says whether an ``Origin`` is a web app of the catalog's
        (``https://chatgpt.com``): a refusal of a cross-origin upload from it (ChatGPT's
        blob PUT, Gemini's content-push) carries CORS headers for it, so the app's page
        can read and show why; without them the browser hides our answer from it."""
        self.app_origin = app_origin
        self.runner = runner
        self.enforcer = enforcer
        self.default_profile = default_profile
        self.limits = limits
        self.decoded_body_bytes = decoded_body_bytes
        self.company = company
        self.contact = contact

    def _rules(self, ctx: FlowContext) -> tuple[UploadRules, str]:
        if self.enforcer is None:
            return UploadRules(), "-"
        policy = self.enforcer.runtime.holder.get()
        p = ctx.principal
        return (
            upload_rules(policy, p.tenant if p else None, p.department if p else None),
            policy.version,
        )

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ctx = FlowContext.of(flow)
        dest = ctx.destination
        if dest is None or ctx.outcome is not None or dest.api not in UPLOAD_APIS:
            return
        request = flow.request
        rules, version = self._rules(ctx)
        found = upload_route(dest.service_id, request.method, request.path, request.headers)
        try:
            if found is None:  # the parser named it an upload: it must still be one
                raise UploadError("the upload request changed while it was checked")
            body = decoded(
                request.raw_content or b"",
                request.headers.get("content-encoding"),
                self.decoded_body_bytes,
            )
            upload = read_upload(found[0], found[1], request.headers, body)
        except (UploadError, UndecodableBody, BodyTooLarge) as exc:
            reason = exc.reason if isinstance(exc, UploadError) else str(exc)
            unreadable = FileVerdict(
                f"{rules.layer}/uploads/unreadable", f"The upload could not be read: {reason}."
            )
            self._refuse(flow, unreadable, None, version)
            return
        whose = _whose(flow, ctx)
        profile = _profile_for(ctx.decision, self.default_profile)
        records: list[dict[str, Any]] = []
        findings: list[FindingCount] = []
        refusal: tuple[FileVerdict, str | None] | None = None
        for index, item in enumerate(upload.files):
            facts = await _facts(item)
            label = f"files[{index}]"
            verdict = judge_file(
                rules,
                facts.kind,
                facts.size if item.data is not None else (item.declared_size or 0),
                announced=item.data is None,
            )
            chars: int | None = None
            if verdict is None and item.data is not None and rules.action == "scan":
                outcome = await self._inspect(flow, item.data, facts, profile, label, whose)
                if outcome is None:
                    return  # answered (DLP unavailable)
                chars, why, blocked, found_counts = outcome
                findings.extend(found_counts)
                verdict = judge_scan(
                    rules, why, blocked, frozenset(f.entity_type for f in found_counts)
                )
            records.append(_record(facts, chars, verdict))
            if verdict is not None and refusal is None:
                refusal = (verdict, facts.name)
        fields = [
            TextSegment(("fields", name), "user", value) for name, value in upload.fields if value
        ]
        if fields and profile is not None and self.runner is not None and refusal is None:
            from warden.dlp.errors import DlpError  # DLP is configured: already imported

            try:
                result = await self.runner.scan(fields, profile, whose)
            except DlpError as exc:
                self._unavailable(flow, exc)
                return
            findings.extend(result.findings)
            if result.blocked:
                types = ", ".join(sorted(result.blocked_types))
                refusal = (
                    FileVerdict(
                        "dlp/blocked",
                        f"The upload's fields contain {types}, which must not be sent to AI "
                        "services.",
                    ),
                    None,
                )
        state(flow).files = tuple(records)
        if findings:
            entities = tuple(EntityCount(f.entity_type, f.count, f.segment) for f in findings)
            old = ctx.redaction.entities if ctx.redaction else ()
            ctx = ctx.replace(redaction=Redaction((*old, *entities)))
            ctx.save(flow)
        if refusal is not None:
            self._refuse(flow, refusal[0], refusal[1], version)
            return
        decision = ctx.decision
        if decision is not None and decision.dlp_pending and self.enforcer is not None:
            # A rule waits on entity types: decide again with what the files held.
            found_types = frozenset(f.entity_type for f in findings)
            second = decide(
                self.enforcer.runtime.holder.get(),
                principal_facts(ctx.principal),
                request_facts(dest, len(request.raw_content or b""), found_types),
            )
            self.enforcer.apply(flow, ctx, second)

    async def _inspect(
        self,
        flow: http.HTTPFlow,
        data: bytes,
        facts: FileFacts,
        profile: str | None,
        label: str,
        whose: str,
    ) -> tuple[int | None, str | None, frozenset[str], tuple[FindingCount, ...]] | None:
        """Extract and scan one file: (text chars, why unreadable, blocked types,
        findings); ``None`` when the flow was answered because DLP is unavailable."""
        if facts.kind == "image":
            return None, None, frozenset(), ()  # recorded, not read (no OCR)
        if facts.kind not in INSPECTED_KINDS:
            return (
                None,
                f"text cannot be extracted from a file of type {facts.kind}",
                frozenset(),
                (),
            )
        if facts.partial and facts.kind not in TEXT_KINDS:
            return (
                None,
                "it is one part of a file sent in several requests, which cannot be read "
                "on its own",
                frozenset(),
                (),
            )
        if self.runner is None:
            logger.warning("an upload was not scanned: DLP is not configured")
            return None, None, frozenset(), ()
        from warden.dlp.errors import DlpError, DlpTimeout  # DLP is configured: imported

        try:
            scan = await self.runner.scan_file(data, facts.kind, profile, label, self.limits, whose)
        except DlpTimeout:
            return (
                None,
                "reading it took longer than the gateway allows (dlp.files.timeout_s)",
                frozenset(),
                (),
            )
        except DlpError as exc:  # busy, or the worker died
            self._unavailable(flow, exc)
            return None
        return scan.chars, scan.unreadable, scan.blocked_types, scan.findings

    def _unavailable(self, flow: http.HTTPFlow, exc: Exception) -> None:
        logger.error("upload scan failed (%s): %s", type(exc).__name__, exc)
        answer_error(
            flow,
            503,
            "Egress Warden could not check this upload for sensitive data, so it was not "
            f"sent. Try again shortly; if it persists, contact {self.contact}.",
            "warden_dlp_unavailable",
            "dlp_error",
        )

    def _refuse(
        self, flow: http.HTTPFlow, verdict: FileVerdict, name: str | None, version: str
    ) -> None:
        ctx = FlowContext.of(flow)
        dest = ctx.destination
        assert dest is not None
        shown = fit_text(name, max_len=120)
        reason = f"{shown}: {verdict.reason}" if shown else verdict.reason
        decision = PolicyDecision("block", verdict.rule_id, version, reason)
        logger.info("refused an upload to %s (%s)", dest.host, verdict.rule_id)
        if dest.kind == "webapp":
            page = block_page(decision, self.company, self.contact)
            headers = dict(PAGE_HEADERS)
            origin = flow.request.headers.get("origin")
            if origin and self.app_origin(origin):
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Allow-Credentials"] = "true"
                headers["Vary"] = "Origin"
            flow.response = http.Response.make(403, page.encode(), headers)
        else:
            error = block_response(dest.provider, decision, self.company, self.contact)
            flow.response = http.Response.make(error.status, error.body, dict(error.headers))
        ctx.replace(decision=decision, outcome="blocked").save(flow)


async def _facts(item: UploadedFile) -> FileFacts:
    if item.data is not None and len(item.data) > THREAD_FACTS_BYTES:
        return await asyncio.to_thread(
            file_facts, item.data, item.name, item.declared_type, partial=item.partial
        )
    return file_facts(
        item.data, item.name, item.declared_type, item.declared_size, partial=item.partial
    )


def _record(facts: FileFacts, chars: int | None, verdict: FileVerdict | None) -> dict[str, Any]:
    return {
        "name": fit_text(facts.name, max_len=512),
        "kind": facts.kind,
        "media_type": facts.media_type[:128],
        "declared_type": fit_text(facts.declared_type, max_len=128),
        "size": facts.size,
        "sha256": facts.sha256,
        "partial": facts.partial,
        "text_chars": chars,
        "verdict": "blocked" if verdict is not None else "allowed",
        "reason": fit_text(verdict.reason, max_len=1024) if verdict else None,
    }


def _profile_for(d: Decision | None, default_profile: str | None) -> str | None:
    """The DLP profile to scan files with: as ``addons.redact.profile_for`` (not imported:
    it would import Presidio on gateways without DLP), except that an acknowledged
    coaching notice still scans files with the default profile: a notice read once a day
    is no reason to let whole documents through unread."""
    if d is not None and d.dlp_profile and (d.action == "redact" or d.dlp_pending):
        return d.dlp_profile
    if d is None or d.action in ("allow", "coach"):
        return default_profile
    return None


def _whose(flow: http.HTTPFlow, ctx: FlowContext) -> str:
    p = ctx.principal
    if p is not None:
        return f"{p.tenant}\x00{p.issuer}\x00{p.subject}"
    peer = flow.client_conn.peername
    return f"addr:{peer[0]}" if peer else "-"


__all__ = ["UploadInspector", "uploaded_files"]
