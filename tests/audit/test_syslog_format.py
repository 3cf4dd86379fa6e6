"""RFC 5424 and CEF formatting of audit records: header rules, SD escaping, BOM, truncation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from warden.audit.syslog_format import (
    BOM,
    Facility,
    Severity,
    SyslogFormatter,
    check_sd_name,
    encode_5424,
    escape_param_value,
    format_5424,
    format_cef,
    msgid_for,
    sd_params,
    severity_for,
    truncate_5424,
)

# The shape of `AuditRecord.to_dict()`: groups nested, every key present.
FLOW = {
    "v": 1,
    "record_id": "0f" * 16,
    "ts": "2025-01-31T12:00:00.123Z",
    "kind": "flow",
    "tenant": "acme",
    "outcome": "blocked",
    "status": 403,
    "event": None,
    "principal": {
        "issuer": "https://idp.example",
        "subject": "u-1",
        "email": "ann@example.com",
        "department": "finance",
        "groups": ["staff", "fin"],
        "auth_method": "oidc",
        "session_id": "s-9",
        "client_addr": "10.0.0.7",
    },
    "destination": {
        "provider": "openai",
        "service": "openai-api",
        "host": "api.openai.com",
        "api_kind": "api",
        "api": "chat.completions",
        "model": "gpt-4o",
    },
    "decision": {"action": "block", "rule_id": "r7", "policy_version": "v3", "reason": "no PII"},
    "findings": [
        {"entity_type": "EMAIL_ADDRESS", "count": 2, "segment": 0},
        {"entity_type": "EMAIL_ADDRESS", "count": 1, "segment": 1},
        {"entity_type": "US_SSN", "count": 1, "segment": 0},
    ],
    "usage": {"tokens_in": 12, "tokens_out": 0, "estimated": True},
    "timing": {
        "started_at": "2025-01-31T12:00:00.100Z",
        "upstream_latency_ms": None,
        "ttfb_ms": None,
        "total_ms": 23,
    },
    "details": {"note": "x"},
}

HEADER = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
)


def parts(message: bytes) -> dict[str, bytes]:
    match = HEADER.match(message)
    assert match, message
    return match.groupdict() | {"rest": message[match.end() :]}


def test_header_pri_timestamp_and_fields() -> None:
    msg = format_5424(FLOW, hostname="gw1.example", procid=4242)
    p = parts(msg)
    assert int(p["pri"]) == Facility.LOG_AUDIT * 8 + Severity.WARNING  # blocked -> warning
    assert p["ts"] == b"2025-01-31T12:00:00.123Z"
    assert (p["host"], p["app"], p["procid"], p["msgid"]) == (
        b"gw1.example",
        b"egress-warden",
        b"4242",
        b"flow",
    )


def test_timestamp_is_utc_with_milliseconds() -> None:
    when = datetime.fromisoformat("2025-06-01T14:30:05.987654+02:00")
    msg = format_5424({"kind": "flow"}, hostname="h", timestamp=when)
    assert parts(msg)["ts"] == b"2025-06-01T12:30:05.987Z"


@pytest.mark.parametrize(
    ("outcome", "severity"),
    [
        ("allowed", Severity.INFO),
        ("redacted", Severity.NOTICE),
        ("blocked", Severity.WARNING),
        ("over_quota", Severity.WARNING),
        ("upstream_error", Severity.ERR),
        ("dlp_error", Severity.ERR),
        ("alarm", Severity.ERR),
        ("something_new", Severity.INFO),
    ],
)
def test_severity_from_outcome(outcome: str, severity: Severity) -> None:
    assert severity_for({"outcome": outcome}) == severity
    msg = format_5424({"outcome": outcome}, hostname="h", facility=Facility.LOCAL3)
    assert int(parts(msg)["pri"]) == 19 * 8 + severity


@pytest.mark.parametrize(
    ("record", "msgid"),
    [
        ({"kind": "flow"}, "flow"),
        ({"kind": "auth"}, "auth"),
        ({"kind": "admin"}, "admin"),
        ({"kind": "alarm"}, "alarm"),
        ({"tenant": "t", "tenant_seq": 9, "head_hash": "ab", "signature": "c2ln"}, "checkpoint"),
        ({}, "record"),
    ],
)
def test_msgid_per_kind(record: dict[str, object], msgid: str) -> None:
    assert msgid_for(record) == msgid


def test_nested_record_is_flattened_into_sd() -> None:
    sd = sd_params(FLOW)
    assert sd["tenant"] == "acme"
    assert sd["subject"] == "u-1"
    assert sd["groups"] == "staff,fin"
    assert sd["model"] == "gpt-4o"
    assert sd["rule_id"] == "r7"
    assert sd["findings"] == "EMAIL_ADDRESS:3,US_SSN:1"
    assert sd["usage_estimated"] == "true"
    assert sd["total_ms"] == "23"
    assert "event" not in sd and "upstream_latency_ms" not in sd  # None is left out
    assert "note" not in sd and "details" not in sd  # nested details stay JSON-only


def test_param_value_escaping_and_control_characters() -> None:
    assert escape_param_value('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    msg = format_5424({"reason": 'say "hi"] \\ now\nfake line'}, hostname="h", payload="sd-only")
    assert msg.endswith(b'[warden@32473 reason="say \\"hi\\"\\] \\\\ now fake line"]')


def test_long_param_value_is_capped() -> None:
    sd = sd_params({"reason": "x" * 5000})
    assert len(sd["reason"]) == 512 and sd["reason"].endswith("…")


@pytest.mark.parametrize("name", ["", "a=b", "a b", 'a"b', "a]b", "x" * 33, "ünï", "tab\there"])
def test_invalid_sd_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="SD-NAME"):
        check_sd_name(name)
    with pytest.raises(ValueError):
        encode_5424(
            severity=6,
            facility=1,
            timestamp=None,
            hostname="h",
            app_name="a",
            procid=None,
            msgid=None,
            structured_data={"ok@1": {name: "v"}},
            msg=None,
        )


def test_valid_sd_names() -> None:
    assert check_sd_name("x" * 32) == "x" * 32
    assert check_sd_name("warden@32473") == "warden@32473"


def test_header_fields_limits_and_nilvalue() -> None:
    msg = encode_5424(
        severity=6,
        facility=16,
        timestamp=None,
        hostname="h" * 300,
        app_name="my app\u00e9" + "a" * 60,
        procid="",
        msgid="m" * 40,
        structured_data={},
        msg=None,
    )
    p = parts(msg)
    assert p["ts"] == b"-" and p["procid"] == b"-"
    assert p["host"] == b"h" * 255
    assert len(p["app"]) == 48 and p["app"].startswith(b"my_app_aaa")
    assert p["msgid"] == b"m" * 32
    assert p["rest"] == b"-"  # no SD elements: NILVALUE, and no MSG at all


def test_json_payload_has_bom_and_round_trips() -> None:
    msg = format_5424(FLOW | {"reason": "Grüße ✓"}, hostname="h")
    sd_end = msg.index(b"] \xef\xbb\xbf")
    body = msg[sd_end + 2 :]
    assert body.startswith(BOM)
    assert json.loads(body[len(BOM) :].decode("utf-8")) == FLOW | {"reason": "Grüße ✓"}


def test_sd_only_has_no_msg() -> None:
    msg = format_5424(FLOW, hostname="h", payload="sd-only")
    assert msg.endswith(b"]") and BOM not in msg


def test_bad_payload_kind() -> None:
    with pytest.raises(ValueError, match="json"):
        format_5424({}, hostname="h", payload="xml")  # type: ignore[arg-type]


def test_cef_line_and_escaping() -> None:
    record = FLOW | {
        "tenant": "a=b|c\\d",
        "decision": {"reason": "line1\nline2\r\nx=y", "action": "block"},
    }
    line = format_cef(record, vendor="Egress|Warden", version="0\\1")
    head = line.split("|")
    assert line.startswith("CEF:0|Egress\\|Warden|warden|0\\\\1|flow:blocked|flow blocked|6|")
    assert "\n" not in line and "\r" not in line
    assert "cs1=a\\=b|c\\\\d cs1Label=tenant" in line  # '|' needs no escape in extensions
    assert "reason=line1\\nline2\\nx\\=y" in line
    assert "externalId=" + "0f" * 16 in line
    assert "rt=1738324800123" in line
    assert "suser=ann@example.com" in line and "src=10.0.0.7" in line
    assert head[0] == "CEF:0"


def test_cef_as_syslog_payload() -> None:
    msg = format_5424(FLOW, hostname="h", payload="cef")
    assert b"] CEF:0|Egress Warden|warden|0.1|flow:blocked|" in msg
    assert BOM not in msg


def test_checkpoint_record() -> None:
    checkpoint = {
        "tenant": "acme",
        "tenant_seq": 1000,
        "head_hash": bytes(range(32)),
        "ts": "2025-01-31T12:00:10.000Z",
        "signature": b"\x01\x02\x03",
        "key_id": "k1",
    }
    msg = format_5424(checkpoint, hostname="h")
    assert parts(msg)["msgid"] == b"checkpoint"
    sd = sd_params(checkpoint)
    assert sd["head_hash"] == bytes(range(32)).hex()
    assert sd["signature"] == "AQID"
    assert sd["tenant_seq"] == "1000"


def test_formatter_alarm() -> None:
    formatter = SyslogFormatter(hostname="gw", procid="7")
    msg = formatter.spool_full_alarm(12)
    p = parts(msg)
    assert p["msgid"] == b"alarm"
    assert int(p["pri"]) % 8 == Severity.ERR
    assert b'dropped="12"' in msg and b"spool full, 12 records dropped" in msg
    assert re.search(rb'record_id="[0-9a-f]{32}"', msg)


def test_truncate_keeps_sd_and_cuts_msg_on_char_boundary() -> None:
    msg = format_5424(FLOW | {"details": {"text": "€" * 400}}, hostname="h")
    cut = truncate_5424(msg, 900)
    assert len(cut) <= 900
    assert f'[truncated@32473 size="{len(msg)}"]'.encode() in cut
    assert b'tenant="acme"' in cut
    cut.decode("utf-8")  # no half character at the end
    for limit in range(600, 640):  # every cut position inside a 3-byte character
        truncate_5424(msg, limit).decode("utf-8")


def test_truncate_replaces_oversized_sd_but_keeps_record_id() -> None:
    msg = format_5424({"record_id": "r-1", "reason": "y" * 500, "kind": "flow"}, hostname="h")
    cut = truncate_5424(msg, 200)
    assert len(cut) <= 200
    assert b'[truncated@32473 size="' in cut and b'record_id="r-1"]' in cut
    assert b"yyyy" not in cut.split(b"]")[0]


def test_truncate_leaves_short_messages_alone() -> None:
    msg = format_5424({"kind": "flow"}, hostname="h")
    assert truncate_5424(msg, len(msg)) is msg


def test_timestamp_from_datetime_and_epoch() -> None:
    epoch = format_5424({"ts": 0}, hostname="h")
    assert parts(epoch)["ts"] == b"1970-01-01T00:00:00.000Z"
    aware = format_5424({"ts": datetime(2025, 1, 1, tzinfo=UTC)}, hostname="h")
    assert parts(aware)["ts"] == b"2025-01-01T00:00:00.000Z"


def test_the_request_part_reaches_sd_and_cef() -> None:
    record = {
        **FLOW,
        "request": {
            "method": "POST",
            "path": "/v1/responses",
            "transport": "http",
            "client": "codex/0.46.0",
            "conversation": "conv_9",
        },
    }
    sd = sd_params(record)
    assert (sd["method"], sd["path"], sd["transport"]) == ("POST", "/v1/responses", "http")
    assert (sd["client"], sd["conversation"]) == ("codex/0.46.0", "conv_9")
    cef = format_cef(record)
    assert "requestMethod=POST" in cef and "requestClientApplication=codex/0.46.0" in cef
