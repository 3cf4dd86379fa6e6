"""TLS for the control plane (the portal): a configured certificate, or one the CA issues.

A certificate issued by the interception CA is valid only where that CA is trusted, and
only for a name inside its name constraints: the portal's DNS name is added to them when
the CA is created, and an existing CA that does not cover the name is reported with the
fix instead of serving a certificate browsers would refuse.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.certs import CertStore

from warden.certs import load_ca
from warden.config import Config, ConfigError


def portal_host(config: Config) -> str | None:
    url = config.identity.portal.public_url
    if url is None or not url.startswith("https://"):
        return None
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def server_context(config: Config) -> ssl.SSLContext | None:
    tls = config.control.tls
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "config", [f"control.tls: cannot load {tls.cert_file} / {tls.key_file}: {exc}"]
            ) from None
        return ctx
    host = portal_host(config) or config.control.listen.host
    cert_file, key_file = _issue(config, host)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _issue(config: Config, host: str) -> tuple[Path, Path]:
    ca = load_ca(config.ca_dir)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    covered = ca.name_constraints is None or (
        ip is None and any(host == d or host.endswith("." + d) for d in ca.name_constraints)
    )
    if not covered:
        raise ConfigError(
            "config",
            [
                f"control.tls.issue_from_ca: the CA's name constraints do not cover the portal "
                f"name {host!r}, so browsers would refuse its certificate. Use a DNS name in "
                "identity.portal.public_url and rotate the CA (`warden ca rotate` adds it), or "
                "configure control.tls.cert_file/key_file with a certificate of your own PKI."
            ],
        )
    store = CertStore.from_store(config.ca_dir, "mitmproxy", 2048)
    san: x509.GeneralName = x509.IPAddress(ip) if ip is not None else x509.DNSName(host)
    entry = store.get_cert(host if ip is None else None, [san])
    out = config.state_dir / "portal"
    out.mkdir(mode=0o700, exist_ok=True)
    cert_file, key_file = out / "portal-cert.pem", out / "portal-key.pem"
    cert_file.write_bytes(
        entry.cert.to_pem() + ca.certificate.public_bytes(serialization.Encoding.PEM)
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            entry.privatekey.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file
