"""The on-disk layout of a CA directory: the file names mitmproxy reads and serves.

The proxy points mitmproxy's `confdir` option at the CA directory, and mitmproxy 12.2's
`CertStore.from_store(confdir, "mitmproxy", key_size)` then:

- reads `mitmproxy-ca.pem` (private key followed by the CA certificate). Only if that
  file is missing does it create a CA of its own, writing every file below plus
  `mitmproxy-ca.p12`;
- reads `mitmproxy-dhparam.pem`, writing mitmproxy's built-in parameters there first if
  it is missing.

Its onboarding app (mitm.it) serves `mitmproxy-ca-cert.pem`, `.cer` and `.p12` to
devices and creates `mitmproxy-magisk-module.zip` from the CA on first request.

We write everything mitmproxy reads or serves, so it never writes into the directory,
except `mitmproxy-ca.p12` (the private key again, as PKCS#12 for Windows): mitmproxy never
reads it, and one copy of the key on disk is enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

BASENAME: Final = "mitmproxy"  # mitmproxy.options.CONF_BASENAME

KEY_AND_CERT: Final = f"{BASENAME}-ca.pem"
CERT_PEM: Final = f"{BASENAME}-ca-cert.pem"
CERT_CER: Final = f"{BASENAME}-ca-cert.cer"  # PEM content; the name Android wants
CERT_P12: Final = f"{BASENAME}-ca-cert.p12"  # certificate only, for Windows
DHPARAM: Final = f"{BASENAME}-dhparam.pem"
# Written by mitmproxy, never by us; listed so that archiving moves them along.
MITMPROXY_KEY_P12: Final = f"{BASENAME}-ca.p12"
MAGISK_MODULE: Final = f"{BASENAME}-magisk-module.zip"

ARCHIVE_DIR: Final = "archive"

# Files that belong to one CA generation, moved together into the archive.
GENERATION_FILES: Final = (
    KEY_AND_CERT,
    CERT_PEM,
    CERT_CER,
    CERT_P12,
    DHPARAM,
    MITMPROXY_KEY_P12,
    MAGISK_MODULE,
)

# RFC 7919 appendix A.1, ffdhe2048: a published, verifiable group, used instead of
# mitmproxy's own generated parameters. DH parameters are public; only DHE cipher suites
# on TLS 1.2 use them. Produced by `openssl genpkey -genparam -algorithm DH
# -pkeyopt group:ffdhe2048`; tests/certs checks the prime against the RFC's formula.
FFDHE2048_PEM: Final = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def key_path(ca_dir: Path) -> Path:
    """The file holding the CA private key (and certificate) that mitmproxy loads."""
    return ca_dir / KEY_AND_CERT


def cert_path(ca_dir: Path) -> Path:
    """The certificate-only PEM file handed to devices."""
    return ca_dir / CERT_PEM
