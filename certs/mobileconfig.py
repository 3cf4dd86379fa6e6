"""Apple configuration profiles (``.mobileconfig``): the interception CA and the proxy's PAC URL.

For Macs, iPhones and iPads. The profile is an XML property list (`plistlib`) with up to
two payloads:

- ``com.apple.security.root``: the CA certificate (DER). On macOS, installing the profile
  (double-click, then System Settings → Privacy & Security → Profiles, or MDM) adds the
  certificate to the System keychain as trusted. On iOS/iPadOS a manually installed root
  must also be switched on under Settings → General → About → Certificate Trust Settings;
  MDM-installed roots are trusted at once.
- ``com.apple.proxy.http.global`` (optional): a global HTTP proxy of type ``Auto`` with the
  PAC URL, ``ProxyPACFallbackAllowed`` false (if the PAC cannot be fetched, the device must
  not fall back to going direct: the same fail-closed choice as the PAC file itself) and
  ``ProxyCaptiveLoginAllowed`` true (hotel and airport portals still work). Apple applies
  this payload on iOS, iPadOS, tvOS and visionOS only to **supervised** devices; macOS
  accepts it on the device channel, manual install included. Only one global proxy
  payload may exist on a device.

Every ``PayloadUUID`` is a UUIDv5 derived from the CA certificate's SHA-256 fingerprint and
the profile identifier, and nothing time-dependent goes into the file, so exporting the
same CA twice yields byte-identical files: an MDM sees no change and does not re-push. A
new CA (rotation) gives new UUIDs while ``PayloadIdentifier`` stays, so devices replace
the old profile instead of stacking a second one.

The profile is not signed here. Unsigned profiles install, shown as "Unverified"; sign it
with your MDM or ``security cms -S`` (macOS) if users install it by hand.
"""

from __future__ import annotations

import hashlib
import plistlib
import re
import uuid
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509

from .errors import CAError

__all__ = ["MOBILECONFIG_CONTENT_TYPE", "mobileconfig"]

#: What a web server should send so Safari offers to install the profile.
MOBILECONFIG_CONTENT_TYPE: Final = "application/x-apple-aspen-config"

# Our own namespace for payload UUIDs: uuid5(NAMESPACE_URL, "urn:egress-warden:mobileconfig").
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egress-warden:mobileconfig")
# Reverse-DNS identifier, as Apple's PayloadIdentifier expects.
_IDENTIFIER: Final = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _payload_uuid(fingerprint: str, identifier: str, role: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{fingerprint}/{identifier}/{role}")).upper()


def _check_certificate(ca_der: bytes) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(ca_der)
    except ValueError:
        raise CAError(
            "the data given for the profile is not a DER-encoded certificate",
            fix="export the CA with `warden ca export --format der` and pass that",
        ) from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CAError(
            "the certificate given for the profile is not a CA certificate",
            fix="pass the gateway's CA certificate (`warden ca export --format der`)",
        )
    return cert


def _check_pac_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise ValueError(
            f"proxy_pac_url {url!r} must be an http(s) URL without credentials, such as "
            "https://warden.example.com:8081/proxy.pac"
        )
    return url


def mobileconfig(
    ca_der: bytes,
    *,
    org: str,
    identifier: str,
    proxy_pac_url: str | None,
) -> bytes:
    """An XML ``.mobileconfig`` carrying the CA and, when ``proxy_pac_url`` is given, the proxy.

    ``identifier`` is the profile's reverse-DNS ``PayloadIdentifier`` (for example
    ``com.example.egress-warden``); the payloads get ``<identifier>.ca`` and
    ``<identifier>.proxy``. Raises `CAError` when ``ca_der`` is not a CA certificate and
    ``ValueError`` for a malformed identifier or URL. Deterministic: same input, same bytes.
    """
    if not _IDENTIFIER.match(identifier):
        raise ValueError(
            f"identifier {identifier!r} must be reverse-DNS, such as com.example.egress-warden"
        )
    if not org.strip():
        raise ValueError("org must name the organization shown on the profile")
    cert = _check_certificate(ca_der)
    fingerprint = hashlib.sha256(ca_der).hexdigest()
    subject = cert.subject.rfc4514_string()
    ca_payload: dict[str, Any] = {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.ca",
        "PayloadUUID": _payload_uuid(fingerprint, identifier, "ca"),
        "PayloadDisplayName": "Egress Warden interception CA",
        "PayloadDescription": (
            f"Lets {org}'s Egress Warden gateway inspect traffic to AI services. "
            f"Certificate {subject}, SHA-256 {fingerprint}."
        ),
        "PayloadOrganization": org,
        "PayloadCertificateFileName": "egress-warden-ca.cer",
        "PayloadContent": ca_der,
    }
    payloads: list[dict[str, Any]] = [ca_payload]
    description = f"Installs {org}'s Egress Warden CA certificate"
    if proxy_pac_url is not None:
        payloads.append(
            {
                "PayloadType": "com.apple.proxy.http.global",
                "PayloadVersion": 1,
                "PayloadIdentifier": f"{identifier}.proxy",
                "PayloadUUID": _payload_uuid(fingerprint, identifier, "proxy"),
                "PayloadDisplayName": "Egress Warden proxy (PAC)",
                "PayloadDescription": (
                    "Sends traffic to AI services through the Egress Warden gateway. "
                    "Applies on supervised iOS/iPadOS devices and on macOS."
                ),
                "PayloadOrganization": org,
                "ProxyType": "Auto",
                "ProxyPACURL": _check_pac_url(proxy_pac_url),
                # Fail closed: no PAC, no direct path around the gateway.
                "ProxyPACFallbackAllowed": False,
                "ProxyCaptiveLoginAllowed": True,
            }
        )
        description += " and sets the proxy auto-config URL"
    profile: dict[str, Any] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": _payload_uuid(fingerprint, identifier, "profile"),
        "PayloadDisplayName": f"{org}: Egress Warden",
        "PayloadDescription": description + ".",
        "PayloadOrganization": org,
        # System scope: the root goes into the System keychain on macOS (ignored on iOS).
        "PayloadScope": "System",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
