"""The audit part of the configuration: the audit database, checkpoints, syslog to the SIEM."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckpointSettings(_Strict):
    every_records: int = Field(1000, ge=1, le=1_000_000)
    every_seconds: float = Field(10, gt=0, le=3600)
    #: A signed checkpoint per tenant even when idle, so a truncated tail shows.
    heartbeat_seconds: float = Field(60, gt=0, le=86400)


class SyslogSettings(_Strict):
    transport: Literal["udp", "tcp", "tls"] = "tcp"
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    #: TLS: the CA that signed the collector's certificate, and the name to expect.
    ca_file: Path | None = None
    server_name: str | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    payload: Literal["json", "sd-only", "cef"] = "json"
    app_name: str = Field("egress-warden", min_length=1, max_length=48)
    facility: Literal[
        "log_audit",
        "auth",
        "authpriv",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
        "user",
    ] = "log_audit"
    spool_max_mb: int = Field(256, ge=1, le=1_048_576)
    queue_messages: int = Field(10_000, ge=100, le=10_000_000)

    @model_validator(mode="after")
    def _tls(self) -> SyslogSettings:
        if self.transport == "tls" and self.ca_file is None:
            raise ValueError(
                "transport 'tls' needs ca_file: the CA that signed the collector's certificate"
            )
        return self


class EvidenceSettings(_Strict):
    """Sealed evidence (rules with ``evidence: capture``; audit/evidence.py)."""

    #: Bytes kept of each body (request, answer); a larger body is truncated to this and
    #: its record says ``evidence_truncated``.
    max_bytes: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: Folder of the investigators' public keys, one age recipients file per tenant
    #: (``<tenant>.txt``); default ``<state_dir>/audit/evidence-recipients``. Written by
    #: ``warden evidence add-recipient``; the gateway never holds a private key.
    recipients_dir: Path | None = None


class AuditSettings(_Strict):
    #: NORMAL survives a crash of the process; FULL also a power loss (slower commits).
    synchronous: Literal["normal", "full"] = "normal"
    checkpoints: CheckpointSettings = CheckpointSettings()
    #: When a record cannot be written: refuse the flow (fail_closed) or let it pass.
    on_failure: Literal["fail_closed", "fail_open"] = "fail_closed"
    retention_days: int = Field(365, ge=1, le=36500)
    syslog: SyslogSettings | None = None
    evidence: EvidenceSettings = EvidenceSettings()
