"""SCIM 2.0 provisioning (RFC 7643/7644) per tenant: routes, service, store, tokens.

The public surface: ``scim_routes(service)`` for the control plane, ``ScimService`` with
its deprovisioning hook and read side (``is_active``, ``groups_of``, ``department_of``,
``has_llm_access``), ``ScimStore`` and ``ScimCredentials`` over the state database, and
``create_token(conn, tenant)`` for the CLI.
"""

from .credentials import Caller, ScimCredentials, TooManyTokens, create_token
from .errors import ScimError
from .routes import scim_routes
from .service import (
    Deprovision,
    EventDetails,
    Events,
    ProvisionedUser,
    RequestScope,
    ScimService,
)
from .store import ScimStore

__all__ = [
    "Caller",
    "Deprovision",
    "EventDetails",
    "Events",
    "ProvisionedUser",
    "RequestScope",
    "ScimCredentials",
    "ScimError",
    "ScimService",
    "ScimStore",
    "TooManyTokens",
    "create_token",
    "scim_routes",
]
