"""What a browser shows when the policy stops a web-app flow: block, coaching and
over-quota pages, one small HTML template with inline CSS.

Every value that goes into a page is HTML-escaped, policy text included (a reason in the
policy is config, and config is not markup). The coaching form posts to a URL the
caller gives (http(s) or a relative path) with hidden fields the caller chooses.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from urllib.parse import urlsplit

from .engine import PolicyDecision
from .messages import LIMIT_WORDS, SCOPE_WORDS, format_reset, format_wait
from .quotas import QuotaVerdict

#: Headers to send with a page: no caching, nothing loaded, not framable.
PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; "
        "base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;
color:#1d2330;margin:0;padding:6vh 1rem}}
main{{max-width:40rem;margin:auto;background:#fff;border-radius:10px;padding:2rem 2.25rem;
box-shadow:0 2px 10px rgba(0,0,0,.08);border-top:6px solid {accent}}}
h1{{font-size:1.4rem;margin:0 0 .75rem}} .notice{{white-space:pre-line}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;font-size:.9rem;
color:#4a5263;margin:1.25rem 0 0}} dt{{font-weight:600}} dd{{margin:0}}
button{{font:inherit;background:#1f5fd6;color:#fff;border:0;border-radius:6px;
padding:.6rem 1.2rem;margin-top:1.25rem;cursor:pointer}}
footer{{margin-top:1.5rem;font-size:.85rem;color:#6b7385}}
</style></head>
<body><main>
<h1>{title}</h1>
{body}
<footer>{company} · questions: {contact}</footer>
</main></body></html>
"""

_RED, _AMBER, _BLUE = "#c62828", "#e08a00", "#1f5fd6"


def block_page(decision: PolicyDecision, company: str, contact: str) -> str:
    body = (
        f'<p class="notice">{_e(decision.reason)}</p>'
        f"<p>If you need this for your work, contact {_e(contact)} and quote the rule id.</p>"
        + _facts(("Rule", decision.rule_id), ("Policy", decision.policy_version))
    )
    return _page("Blocked by your organisation's AI policy", body, company, contact, _RED)


def coaching_page(
    decision: PolicyDecision,
    company: str,
    contact: str,
    action_url: str,
    hidden: Mapping[str, str] | None = None,
) -> str:
    """The notice and an "I understand, continue" form posting to ``action_url``."""
    parts = urlsplit(action_url)
    if parts.scheme not in ("", "http", "https") or (not parts.scheme and parts.netloc):
        raise ValueError(
            f"the coaching form must post to an http(s) URL or a path, not {action_url!r}"
        )
    fields = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in (hidden or {}).items()
    )
    period = format_wait(decision.coach_period_s) if decision.coach_period_s else None
    body = (
        f'<p class="notice">{_e(decision.coach_message or decision.reason)}</p>'
        + (f"<p>You will see this notice again after {_e(period)}.</p>" if period else "")
        + f'<form method="post" action="{_e(action_url)}">{fields}'
        '<button type="submit">I understand, continue</button></form>'
        + _facts(("Rule", decision.rule_id), ("Policy", decision.policy_version))
    )
    return _page("Before you continue", body, company, contact, _AMBER)


def quota_page(verdict: QuotaVerdict, company: str, contact: str) -> str:
    limit = LIMIT_WORDS.get(verdict.limit_name or "", verdict.limit_name or "quota")
    scope = SCOPE_WORDS.get(verdict.scope or "", "a")
    body = (
        f"<p>You have reached {_e(scope)} limit of {_e(str(verdict.limit))} {_e(limit)}.</p>"
        f"<p>It resets at {_e(format_reset(verdict.resets_at))} "
        f"(in {_e(format_wait(verdict.retry_after_s))}). For a higher limit, contact "
        f"{_e(contact)}.</p>"
        + _facts(("Limit", verdict.limit_name or ""), ("Scope", verdict.scope or ""))
    )
    return _page("Usage limit reached", body, company, contact, _BLUE)


def _facts(*rows: tuple[str, str]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"


def _page(title: str, body: str, company: str, contact: str, accent: str) -> str:
    return _TEMPLATE.format(
        title=_e(title), body=body, company=_e(company), contact=_e(contact), accent=accent
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def coach_confirm_page(message: str, token: str) -> str:
    """The portal's page behind an acknowledgement link: the notice and a confirm button."""
    return (
        "<!doctype html><meta charset=utf-8><title>Before you continue</title>"
        f"<h1>Before you continue</h1><p>{html.escape(message)}</p>"
        f'<form method=post><input type=hidden name=token value="{_e(token)}">'
        "<button>I understand, continue</button></form>"
    )
