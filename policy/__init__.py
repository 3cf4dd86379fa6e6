"""Tenant, department and role policy: rules and decisions with reasons, quotas, and what
the user sees when stopped (SDK errors, block, coaching and over-quota pages).

Pure domain code: no mitmproxy, no network; it imports only ``warden.providers``. The
policy addon maps a flow onto ``PrincipalFacts``/``RequestFacts``, calls ``decide`` and
``Quotas.admit``, and answers with ``messages``/``pages`` when the flow may not go.

Modules: ``document`` (schema), ``loader`` (YAML, errors with paths, version), ``engine``
(``compile``, ``decide``), ``rules``/``globs`` (matching), ``facts``,
``limits``/``windows``/``quotas``/``quotastore`` (quotas), ``usage`` (token estimate),
``coaching`` (acknowledgements), ``messages``/``pages``, ``lint``, ``explain`` (and ``trace``),
``models`` (known model names), ``holder`` (hot reload, file watcher).
"""

from .coaching import CoachAcknowledgements
from .document import PolicyDocument
from .engine import CompiledPolicy, PolicyDecision, compile_policy, decide
from .explain import explain, trace
from .facts import PrincipalFacts, RequestFacts
from .holder import PolicyFileWatcher, PolicyHolder, ReloadResult
from .lint import Finding, check
from .loader import Issue, PolicyError, load_policy, policy_version
from .messages import ApiError, block_response, coach_response, quota_response
from .pages import PAGE_HEADERS, block_page, coaching_page, quota_page
from .quotas import Quotas, QuotaVerdict
from .quotastore import QuotaStore
from .usage import estimate_tokens, usage_or_estimate

__all__ = [
    "PAGE_HEADERS",
    "ApiError",
    "CoachAcknowledgements",
    "CompiledPolicy",
    "Finding",
    "Issue",
    "PolicyDecision",
    "PolicyDocument",
    "PolicyError",
    "PolicyFileWatcher",
    "PolicyHolder",
    "PrincipalFacts",
    "QuotaStore",
    "QuotaVerdict",
    "Quotas",
    "ReloadResult",
    "RequestFacts",
    "block_page",
    "block_response",
    "check",
    "coach_response",
    "coaching_page",
    "compile_policy",
    "decide",
    "estimate_tokens",
    "explain",
    "load_policy",
    "policy_version",
    "quota_page",
    "quota_response",
    "trace",
    "usage_or_estimate",
]
