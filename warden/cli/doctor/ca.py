"""The interception CA's checks (files, key, expiry, name constraints), other secret files."""

from __future__ import annotations

import datetime
import stat
from collections.abc import Iterator
from typing import Final

from warden.config import Config

from .results import CheckResult, Clock, failure, passed, warning

#: A CA that ends within this time is reported (renew before devices start refusing it).
CA_EXPIRY_WARNING: Final = datetime.timedelta(days=30)

_CA_KEY: Final = "mitmproxy-ca.pem"
_CA_CERT: Final = "mitmproxy-ca-cert.pem"


def ca_checks(
    config: Config, clock: Clock, needed: tuple[str, ...] | None
) -> Iterator[CheckResult]:
    from cryptography import x509

    from warden.certs import CAError, load_ca
    from warden.certs.names import read_constraints

    key_file = config.ca_dir / _CA_KEY
    cert_file = config.ca_dir / _CA_CERT
    if not key_file.exists() and not cert_file.exists():
        yield warning(
            "CA",
            f"no interception CA in {config.ca_dir} yet",
            "`warden run` creates it at first start; run `warden ca init` now if you want "
            "to distribute the certificate before go-live",
        )
        return
    try:
        mode = key_file.stat().st_mode
        raw = key_file.read_bytes()
    except OSError as exc:
        yield failure(
            "CA key file",
            f"{key_file}: {exc.strerror}",
            "run the doctor as the gateway's user (or root); restore the file from "
            "archive/ or a backup if it is gone",
        )
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        yield failure(
            "CA key file",
            f"{key_file} is mode {stat.S_IMODE(mode):04o}: group or others may read the "
            "CA private key",
            f"chmod 600 {key_file}; if someone else may have read it, rotate the CA "
            "(`warden ca rotate`) and redistribute the certificate",
        )
    else:
        yield passed("CA key file", f"{key_file} is 0600")
    try:
        cert = x509.load_pem_x509_certificates(raw)[0]
    except ValueError:
        yield failure(
            "CA certificate",
            f"{key_file} holds no readable certificate",
            "restore it from archive/ or a backup, or `warden ca init --force` for a new CA",
        )
        return
    try:
        load_ca(config.ca_dir)
    except CAError as exc:
        if "accessible to group or others" not in exc.message:  # reported above
            yield failure("CA files", exc.message, exc.fix)
    else:
        yield passed("CA files", f"key and certificate in {config.ca_dir} belong together")
    now = clock()
    left = cert.not_valid_after_utc - now
    ends = cert.not_valid_after_utc.strftime("%Y-%m-%d")
    if left <= datetime.timedelta(0):
        yield failure(
            "CA expiry",
            f"the CA expired on {ends}: every intercepted connection fails",
            "`warden ca rotate`, distribute the new certificate, restart the gateway",
        )
    elif cert.not_valid_before_utc > now:
        yield failure(
            "CA expiry",
            f"the CA is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
            "this host's clock is behind",
            "sync the clock (timedatectl set-ntp true; chronyc tracking)",
        )
    elif left < CA_EXPIRY_WARNING:
        yield warning(
            "CA expiry",
            f"the CA expires on {ends}, in {left.days} day(s)",
            "`warden ca rotate` and distribute the new certificate before then (devices "
            "need both during the change-over)",
        )
    else:
        yield passed("CA expiry", f"valid until {ends} ({left.days} days)")
    permitted = read_constraints(cert)
    if permitted is None:
        yield warning(
            "CA name constraints",
            "the CA is not name-constrained: a leaked key could impersonate any site",
            "set ca.name_constraints: true and run `warden ca rotate` (then redistribute)",
        )
        return
    missing = [n for n in needed or () if not _permitted(n, permitted)]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        yield warning(
            "CA name constraints",
            f"the CA does not permit {shown}: interception of these names will fail",
            "run `warden ca rotate` (it applies the current catalog and portal name), "
            "then redistribute the certificate",
        )
    else:
        yield passed(
            "CA name constraints", f"limited to {len(permitted)} catalog domain(s), no IPs"
        )


def _permitted(name: str, subtrees: tuple[str, ...]) -> bool:
    return any(name == s or name.endswith("." + s) for s in subtrees)


def secret_file_checks(config: Config) -> Iterator[CheckResult]:
    files = (
        config.audit_dir / "audit-signing.key",
        config.state_dir / "admin-token",
        config.state_db,
        config.state_dir / "portal" / "portal-key.pem",
    )
    loose = []
    for path in files:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # not created yet, or another check reports the folder
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            loose.append(f"{path} ({stat.S_IMODE(mode):04o})")
    if loose:
        yield failure(
            "secret files",
            "readable by group or others: " + ", ".join(loose),
            "chmod 600 " + " ".join(p.split(" (")[0] for p in loose),
        )
    else:
        yield passed("secret files", "audit signing key, admin token and state database are 0600")
