"""Identity: who is behind a flow (OIDC login, device login, service JWTs, sessions, SCIM)."""
