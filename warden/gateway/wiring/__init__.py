"""Each domain's runtime in a running gateway, built from the config: one module per domain
(audit trail, DLP pool, evidence keys, identity, policy and coaching, SCIM)."""
