"""Leaf certificates that a client checking the CA's name constraints accepts.

The interception CA is name-constrained to the catalog's domains and excludes every IP
address (``certs/names.py``), so the gateway can never mint a certificate for a site it
was not meant to intercept. mitmproxy, though, puts the CONNECT target's address into
each leaf it issues (and, for a client without SNI, its own address), so for a CONNECT by
IP with a catalog SNI (judged as that service, ``addons/names.py``) the leaf carried an
IP the CA does not permit, and OpenSSL-based clients refused the handshake. When the
leaf names a host, it names hosts only.
"""

from __future__ import annotations

from cryptography import x509
from mitmproxy import certs
from mitmproxy.addons import tlsconfig
from mitmproxy.proxy import context


class NamedLeafTlsConfig(tlsconfig.TlsConfig):
    """mitmproxy's TLS settings, with IP addresses left out of a leaf that names a host."""

    def get_cert(self, conn_context: context.Context) -> certs.CertStoreEntry:
        entry = super().get_cert(conn_context)
        names = list(entry.cert.altnames)
        hosts = [n for n in names if isinstance(n, x509.DNSName)]
        if not hosts or len(hosts) == len(names):
            return entry  # nothing to leave out, or nothing but addresses to name
        crls = entry.cert.crl_distribution_points
        return self.certstore.get_cert(
            str(hosts[0].value), hosts, entry.cert.organization, crls[0] if crls else None
        )
