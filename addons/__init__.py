"""Egress Warden's mitmproxy addons, thin: each reads the flow, calls its domain package,
and stores the result in the flow's context. The gateway puts them in the order of the
way of one request (``warden/gateway/stages.py``, ARCHITECTURE.md); nothing here imports the
composition root: what a stage needs (metrics, the audit trail, the policy runtime) is
passed in when the chain is built."""
