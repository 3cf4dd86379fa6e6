"""Syslog wire formats for audit records: RFC 5424 messages, CEF payloads, safe truncation.

Pure functions from a record (any `Mapping`, e.g. `AuditRecord.to_dict()` or a checkpoint
dict) to bytes; no I/O. What goes where:

- HEADER: PRI from facility and a severity derived from the record's outcome, VERSION 1,
  the record's own time (UTC, milliseconds, ``Z``), and MSGID from the record's kind
  (``flow``, ``auth``, ``admin``, ``checkpoint``, ``alarm``).
- STRUCTURED-DATA: one element ``[warden@32473 ...]`` with the record's flat, known keys,
  so a SIEM can route and alert without parsing the payload. Values are capped in length;
  control characters become spaces so a value cannot forge a line in a collector's file.
- MSG: the whole record as UTF-8 JSON after a BOM (RFC 5424 section 6.4), or a CEF line,
  or nothing (``sd-only``).

Every message carries ``record_id`` (checkpoints: ``tenant`` + ``tenant_seq``) so a SIEM
can drop the duplicates that at-least-once delivery may produce.

Over 400 lines: RFC 5424 and CEF escaping and truncation rules are tables kept beside the
one formatter that applies them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final, Literal

from .record import DECISION_KEYS, DESTINATION_KEYS, PRINCIPAL_KEYS, REQUEST_KEYS

__all__ = [
    "DEFAULT_SD_ID",
    "Facility",
    "Payload",
    "Severity",
    "SyslogFormatter",
    "alarm_record",
    "encode_5424",
    "format_5424",
    "format_cef",
    "msgid_for",
    "severity_for",
    "truncate_5424",
]

Payload = Literal["json", "sd-only", "cef"]

# Private enterprise number placeholder until a real one is registered (see issue 7).
DEFAULT_SD_ID: Final = "warden@32473"
NILVALUE: Final = "-"
# The tenant of records that belong to no tenant (the same value as `record.SYSTEM_TENANT`).
SYSTEM_TENANT: Final = "_system"
BOM: Final = b"\xef\xbb\xbf"

# RFC 5424 section 6: field lengths.
HOSTNAME_MAX: Final = 255
APP_NAME_MAX: Final = 48
PROCID_MAX: Final = 128
MSGID_MAX: Final = 32
SD_NAME_MAX: Final = 32
# Ours: one runaway value (a long reason) must not crowd out the rest of the element.
SD_VALUE_MAX: Final = 512


class Severity(IntEnum):
    """RFC 5424 table 2."""

    EMERG = 0
    ALERT = 1
    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


class Facility(IntEnum):
    """RFC 5424 table 1 (the ones an operator is likely to pick)."""

    USER = 1
    AUTH = 4
    AUTHPRIV = 10
    LOG_AUDIT = 13
    LOCAL0 = 16
    LOCAL1 = 17
    LOCAL2 = 18
    LOCAL3 = 19
    LOCAL4 = 20
    LOCAL5 = 21
    LOCAL6 = 22
    LOCAL7 = 23


# Outcome (or event) -> severity. Anything unlisted is INFO.
_SEVERITY_BY_OUTCOME: Final[Mapping[str, Severity]] = {
    "allowed": Severity.INFO,
    "redacted": Severity.NOTICE,
    "coached": Severity.NOTICE,
    "client_abort": Severity.NOTICE,
    "blocked": Severity.WARNING,
    "denied": Severity.WARNING,
    "over_quota": Severity.WARNING,
    "quota_exceeded": Severity.WARNING,
    "refused_host": Severity.WARNING,
    "unauthenticated": Severity.WARNING,
    "failed": Severity.WARNING,
    "error": Severity.ERR,
    "upstream_error": Severity.ERR,
    "dlp_error": Severity.ERR,
    "policy_error": Severity.ERR,
    "audit_error": Severity.ERR,
    "gateway_error": Severity.ERR,
    "alarm": Severity.ERR,
}

_KNOWN_KINDS: Final = frozenset({"flow", "auth", "admin", "checkpoint", "alarm"})

# `AuditRecord.to_dict()` nests these groups; SD and CEF read their keys as if top level.
_NESTED_GROUPS: Final = ("principal", "destination", "decision", "usage", "timing", "request")
# ...renaming the one key whose bare name would be ambiguous.
_NESTED_RENAMES: Final[Mapping[tuple[str, str], str]] = {("usage", "estimated"): "usage_estimated"}

# Record keys copied into STRUCTURED-DATA, in this order. Names are the record's own so a
# SIEM maps SD and JSON the same way. Everything else (details, prompt text) is JSON-only.
# The decision, principal, destination and request parts go in whole, in the schema's
# key order (``audit.record``); usage and timing are spelled out (a key renamed, one left out).
SD_KEYS: Final[tuple[str, ...]] = (
    "record_id",
    "tenant",
    "outcome",
    "status",
    "event",
    *DECISION_KEYS,
    *PRINCIPAL_KEYS,
    *DESTINATION_KEYS,
    *REQUEST_KEYS,
    "findings",
    "tokens_in",
    "tokens_out",
    "usage_estimated",
    "upstream_latency_ms",
    "ttfb_ms",
    "total_ms",
    # checkpoints and alarms
    "tenant_seq",
    "head_hash",
    "key_id",
    "signature",
    "dropped",
    # the gateway instance that wrote the record or checkpoint (a fleet: audit/instance.py)
    "instance",
)

_SD_NAME_RE: Final = re.compile(r"[!#-<>-\\^-~]{1,32}")  # PRINTUSASCII minus = ] " and SP
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")


def msgid_for(record: Mapping[str, object]) -> str:
    """MSGID for a record: its kind, or ``checkpoint`` for a checkpoint dict."""
    kind = record.get("kind")
    if isinstance(kind, str) and kind in _KNOWN_KINDS:
        return kind
    if "head_hash" in record and "signature" in record:
        return "checkpoint"
    if isinstance(kind, str) and kind:
        return _header_field(kind, MSGID_MAX)
    return "record"


def severity_for(record: Mapping[str, object]) -> Severity:
    """Severity from the record's outcome (then its event, then its kind); INFO otherwise."""
    for key in ("outcome", "event", "kind"):
        value = record.get(key)
        if isinstance(value, str) and value.lower() in _SEVERITY_BY_OUTCOME:
            return _SEVERITY_BY_OUTCOME[value.lower()]
    return Severity.INFO


def format_5424(
    record: Mapping[str, object],
    *,
    hostname: str,
    app_name: str = "egress-warden",
    procid: str | int | None = None,
    msgid: str | None = None,
    severity: Severity | None = None,
    facility: Facility | int = Facility.LOG_AUDIT,
    sd_id: str = DEFAULT_SD_ID,
    payload: Payload = "json",
    timestamp: datetime | None = None,
) -> bytes:
    """One RFC 5424 message for an audit record, checkpoint or alarm.

    ``msgid``, ``severity`` and ``timestamp`` default to what the record says (its kind,
    outcome and ``ts``). ``payload`` picks MSG: UTF-8 JSON of the whole record after a
    BOM, a CEF line, or none.
    """
    if payload == "json":
        msg: bytes | None = BOM + _json_bytes(record)
    elif payload == "cef":
        msg = format_cef(record).encode("utf-8")
    elif payload == "sd-only":
        msg = None
    else:
        raise ValueError(f"unknown syslog payload {payload!r}: use 'json', 'sd-only' or 'cef'")
    when = timestamp if timestamp is not None else _record_time(record.get("ts"))
    return encode_5424(
        severity=severity if severity is not None else severity_for(record),
        facility=facility,
        timestamp=when,
        hostname=hostname,
        app_name=app_name,
        procid=None if procid is None else str(procid),
        msgid=msgid if msgid is not None else msgid_for(record),
        structured_data={sd_id: sd_params(record)},
        msg=msg,
    )


def encode_5424(
    *,
    severity: Severity | int,
    facility: Facility | int,
    timestamp: datetime | None,
    hostname: str | None,
    app_name: str | None,
    procid: str | None,
    msgid: str | None,
    structured_data: Mapping[str, Mapping[str, str]],
    msg: bytes | None,
) -> bytes:
    """Assemble an RFC 5424 message from its parts, enforcing the RFC's field rules.

    Header fields are cut to their maximum length, characters outside printable US-ASCII
    become ``_``, and empty ones become NILVALUE. SD-IDs and PARAM-NAMEs that break the
    RFC raise ``ValueError`` (they come from code or config, not from traffic). Elements
    without parameters are left out.
    """
    if not 0 <= int(severity) <= 7:
        raise ValueError(f"syslog severity {severity} is outside 0..7")
    if not 0 <= int(facility) <= 23:
        raise ValueError(f"syslog facility {facility} is outside 0..23")
    pri = int(facility) * 8 + int(severity)
    header = " ".join(
        (
            f"<{pri}>1",
            _timestamp(timestamp) if timestamp is not None else NILVALUE,
            _header_field(hostname, HOSTNAME_MAX),
            _header_field(app_name, APP_NAME_MAX),
            _header_field(procid, PROCID_MAX),
            _header_field(msgid, MSGID_MAX),
        )
    )
    sd = _structured_data(structured_data)
    out = header.encode("ascii") + b" " + sd
    if msg is not None:
        out += b" " + msg
    return out


def flatten(record: Mapping[str, object]) -> dict[str, object]:
    """The record's keys with the nested groups of ``AuditRecord.to_dict()`` lifted up.

    Top-level keys win over nested ones, so a flat record passes through unchanged.
    """
    flat: dict[str, object] = {}
    for group in _NESTED_GROUPS:
        inner = record.get(group)
        if isinstance(inner, Mapping):
            for key, value in inner.items():
                flat[_NESTED_RENAMES.get((group, str(key)), str(key))] = value
    for key, value in record.items():
        if key in _NESTED_GROUPS and isinstance(value, Mapping):
            continue
        flat[key] = value
    return flat


def sd_params(record: Mapping[str, object]) -> dict[str, str]:
    """The STRUCTURED-DATA parameters for a record: its known flat keys as strings."""
    flat = flatten(record)
    params: dict[str, str] = {}
    for key in SD_KEYS:
        if key not in flat:
            continue
        value = _sd_value(key, flat[key])
        if value is not None:
            params[key] = value
    return params


def check_sd_name(name: str) -> str:
    """Return ``name`` if it is a valid SD-NAME (SD-ID or PARAM-NAME), else raise."""
    if not _SD_NAME_RE.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid RFC 5424 SD-NAME: use 1 to {SD_NAME_MAX} printable "
            "US-ASCII characters without '=', ']', '\"' or space"
        )
    return name


def escape_param_value(value: str) -> str:
    """PARAM-VALUE escaping (RFC 5424 section 6.3.3): backslash before ``"``, ``\\``, ``]``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def alarm_record(text: str, **fields: object) -> dict[str, object]:
    """A record of kind ``alarm`` for the syslog stream's own troubles (e.g. spool overflow)."""
    now = datetime.now(UTC)
    return {
        "record_id": secrets.token_hex(16),
        "ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "kind": "alarm",
        "tenant": SYSTEM_TENANT,
        "outcome": "alarm",
        "reason": text,
        **fields,
    }


@dataclass(frozen=True, slots=True)
class SyslogFormatter:
    """The format settings of one syslog destination, applied to records and alarms."""

    hostname: str
    app_name: str = "egress-warden"
    procid: str | None = None
    facility: Facility | int = Facility.LOG_AUDIT
    sd_id: str = DEFAULT_SD_ID
    payload: Payload = "json"

    def __post_init__(self) -> None:
        check_sd_name(self.sd_id)
        if self.payload not in ("json", "sd-only", "cef"):
            raise ValueError(f"syslog payload {self.payload!r}: use 'json', 'sd-only' or 'cef'")

    def record(self, record: Mapping[str, object]) -> bytes:
        """An audit record or checkpoint as an RFC 5424 message."""
        return format_5424(
            record,
            hostname=self.hostname,
            app_name=self.app_name,
            procid=self.procid,
            facility=self.facility,
            sd_id=self.sd_id,
            payload=self.payload,
        )

    def spool_full_alarm(self, dropped: int) -> bytes:
        """The alarm for messages the spool bound dropped (`SyslogShipper`'s ``alarm``)."""
        text = f"syslog spool full, {dropped} records dropped"
        return self.record(alarm_record(text, event="syslog.spool_full", dropped=dropped))


# --- CEF -----------------------------------------------------------------------------

_CEF_SEVERITY: Final[Mapping[Severity, int]] = {
    Severity.EMERG: 10,
    Severity.ALERT: 10,
    Severity.CRIT: 9,
    Severity.ERR: 8,
    Severity.WARNING: 6,
    Severity.NOTICE: 4,
    Severity.INFO: 3,
    Severity.DEBUG: 1,
}

# CEF extension key -> record key. Custom strings carry their labels (cs1Label=...).
_CEF_EXTENSION: Final[tuple[tuple[str, str], ...]] = (
    ("externalId", "record_id"),
    ("rt", "ts"),
    ("act", "action"),
    ("outcome", "outcome"),
    ("reason", "reason"),
    ("suser", "email"),
    ("suid", "subject"),
    ("src", "client_addr"),
    ("dhost", "host"),
    ("app", "api"),
    ("requestMethod", "method"),
    ("requestClientApplication", "client"),
)
_CEF_CUSTOM: Final[tuple[tuple[str, str], ...]] = (
    ("cs1", "tenant"),
    ("cs2", "model"),
    ("cs3", "rule_id"),
    ("cs4", "policy_version"),
    ("cs5", "department"),
    ("cs6", "provider"),
    ("cn1", "tokens_in"),
    ("cn2", "tokens_out"),
    ("cn3", "total_ms"),
)


def format_cef(
    record: Mapping[str, object],
    *,
    vendor: str = "Egress Warden",
    product: str = "warden",
    version: str = "0.1",
) -> str:
    """A CEF:0 line for a record (ArcSight CEF, as many SIEMs accept inside syslog).

    Signature ID is ``kind:outcome``; severity 0..10 follows the syslog severity.
    """
    kind = msgid_for(record)
    record = flatten(record)
    outcome = _text(record.get("outcome")) or _text(record.get("event")) or "-"
    severity = _CEF_SEVERITY[severity_for(record)]
    name = f"{kind} {outcome}"
    header = "|".join(
        _cef_header(part)
        for part in ("CEF:0", vendor, product, version, f"{kind}:{outcome}", name, str(severity))
    )
    ext: list[str] = []
    for cef_key, key in _CEF_EXTENSION:
        if key == "ts":
            millis = _epoch_millis(record.get("ts"))
            if millis is not None:
                ext.append(f"rt={millis}")
            continue
        value = _flat_text(key, record.get(key))
        if value is not None:
            ext.append(f"{cef_key}={_cef_value(value)}")
    for cef_key, key in _CEF_CUSTOM:
        value = _flat_text(key, record.get(key))
        if value is not None:
            ext.append(f"{cef_key}={_cef_value(value)}")
            ext.append(f"{cef_key}Label={key}")
    return f"{header}|{' '.join(ext)}"


def _cef_header(value: str) -> str:
    # Header fields: escape backslash and pipe; line breaks are not allowed at all.
    return _CONTROL_RE.sub(" ", value.replace("\\", "\\\\").replace("|", "\\|"))


def _cef_value(value: str) -> str:
    # Extension values: escape backslash and '=', write line breaks as \n / \r, and
    # turn other control characters into spaces.
    value = value.replace("\\", "\\\\").replace("=", "\\=")
    value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    return _CONTROL_RE.sub(" ", value)


# --- truncation ----------------------------------------------------------------------


def truncate_5424(message: bytes, limit: int, *, note_sd_id: str = "truncated@32473") -> bytes:
    """Cut an RFC 5424 message to at most ``limit`` bytes and say so in its SD.

    An element ``[truncated@32473 size="<original bytes>"]`` is added after the existing
    STRUCTURED-DATA; MSG is cut at a UTF-8 character boundary. If header and SD alone do
    not fit, the SD is replaced by the note and the ``record_id`` param (when present),
    so the message stays parseable and traceable. Messages within the limit are returned
    unchanged.
    """
    if len(message) <= limit:
        return message
    sd_start, sd_end = _sd_span(message)
    header = message[:sd_start]
    sd = message[sd_start:sd_end]
    msg = message[sd_end + 1 :] if sd_end < len(message) else b""
    note = f'[{check_sd_name(note_sd_id)} size="{len(message)}"]'.encode("ascii")
    sd_out = note if sd == b"-" else sd + note
    if len(header) + len(sd_out) > limit:
        match = re.search(rb'record_id="((?:[^"\\]|\\.)*)"', sd)
        rid = b' record_id="' + match.group(1) + b'"' if match else b""
        sd_out = note[:-1] + rid + b"]"
    if len(header) + len(sd_out) > limit:
        sd_out = note
    if len(header) + len(sd_out) > limit:
        raise ValueError(f"syslog size limit {limit} is too small for the message header")
    room = limit - len(header) - len(sd_out) - 1
    if room <= 0 or not msg:
        return header + sd_out
    return header + sd_out + b" " + _utf8_prefix(msg, room)


def _utf8_prefix(data: bytes, size: int) -> bytes:
    """The longest prefix of ``data`` of at most ``size`` bytes not ending mid-character."""
    if len(data) <= size:
        return data
    end = size
    # Step back over continuation bytes to the start of the character that was cut.
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def _sd_span(message: bytes) -> tuple[int, int]:
    """Byte offsets [start, end) of STRUCTURED-DATA in an RFC 5424 message."""
    pos = 0
    for _ in range(6):  # PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID
        nxt = message.find(b" ", pos)
        if nxt < 0:
            raise ValueError("not an RFC 5424 message: too few header fields")
        pos = nxt + 1
    start = pos
    if message[start : start + 1] == b"-":
        return start, start + 1
    i = start
    while i < len(message) and message[i : i + 1] == b"[":
        i += 1
        quoted = False
        while i < len(message):
            c = message[i]
            if quoted and c == 0x5C:  # backslash escapes the next byte inside a value
                i += 2
                continue
            if c == 0x22:
                quoted = not quoted
            elif c == 0x5D and not quoted:
                i += 1
                break
            i += 1
    return start, i


# --- helpers -------------------------------------------------------------------------


def _structured_data(elements: Mapping[str, Mapping[str, str]]) -> bytes:
    parts: list[str] = []
    for sd_id, params in elements.items():
        check_sd_name(sd_id)
        if not params:
            continue
        body = " ".join(
            f'{check_sd_name(name)}="{escape_param_value(value)}"' for name, value in params.items()
        )
        parts.append(f"[{sd_id} {body}]")
    return "".join(parts).encode("utf-8") if parts else NILVALUE.encode("ascii")


def _header_field(value: str | None, limit: int) -> str:
    if not value:
        return NILVALUE
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return cleaned or NILVALUE


def _timestamp(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _record_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return datetime.now(UTC)


def _epoch_millis(value: object) -> int | None:
    if value is None:
        return None
    return int(_record_time(value).timestamp() * 1000)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _flat_text(key: str, value: object) -> str | None:
    """A record value as one string, or None for absent, empty and nested values."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, bytes):
        text = base64.b64encode(value).decode() if key == "signature" else value.hex()
    elif key == "findings" and isinstance(value, Iterable):
        text = _findings_summary(value)
    elif isinstance(value, list | tuple | set | frozenset):
        text = ",".join(str(v) for v in value)
    else:
        return None  # nested structures live in the JSON payload only
    return text or None


def _sd_value(key: str, value: object) -> str | None:
    text = _flat_text(key, value)
    if text is None:
        return None
    text = _CONTROL_RE.sub(" ", text)
    if len(text) > SD_VALUE_MAX:
        text = text[: SD_VALUE_MAX - 1] + "…"
    return text


def _findings_summary(findings: Iterable[object]) -> str:
    """``EMAIL_ADDRESS:2,US_SSN:1``: entity types and counts summed over segments."""
    counts: dict[str, int] = {}
    for item in findings:
        if not isinstance(item, Mapping):
            continue
        entity = item.get("entity_type")
        count = item.get("count", 1)
        if isinstance(entity, str) and isinstance(count, int):
            counts[entity] = counts.get(entity, 0) + count
    return ",".join(f"{entity}:{n}" for entity, n in counts.items())


def _json_bytes(record: Mapping[str, object]) -> bytes:
    return json.dumps(
        dict(record), ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)
