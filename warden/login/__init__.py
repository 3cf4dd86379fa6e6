"""`warden login` / `warden logout` on a user's machine: device sign-in through the portal.

Owns the client side of the portal's device login (RFC 8628, the portal's
``/portal/device/start|poll|revoke``): finding the portal, showing the code, polling,
storing the device credential and the gateway's CA under ``$XDG_CONFIG_HOME/egress-warden``
(``~/.config/egress-warden``), and printing the proxy settings to use.

The portal is always reached directly (``trust_env=False``): an ``HTTPS_PROXY`` left in the
environment, perhaps holding an expired credential, must not stand between the user and
sign-in. Time and sleep are injectable (``Clock``) so the polling loop is tested without
waiting.

Modules: ``base`` (error, clock, constants), ``addresses``, ``portal`` (the portal's
API), ``polling``, ``files`` (what is kept on disk, the CA bundle), ``commands``.
"""

from .addresses import ProxyAddress, parse_proxy_url
from .base import Clock, LoginError
from .commands import Console, LoginOptions, default_label, login, logout
from .polling import wait_for_approval
from .portal import Approval, DeviceGrant, PortalClient, discover_portal

__all__ = [
    "Approval",
    "Clock",
    "Console",
    "DeviceGrant",
    "LoginError",
    "LoginOptions",
    "PortalClient",
    "ProxyAddress",
    "default_label",
    "discover_portal",
    "login",
    "logout",
    "parse_proxy_url",
    "wait_for_approval",
]
