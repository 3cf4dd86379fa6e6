"""Egress Warden: an identity-aware egress gateway for LLM traffic, built on mitmproxy."""

__version__ = "0.1.0"
