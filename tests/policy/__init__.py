"""Tests for warden.policy: document, decisions, quotas, messages, pages, lint, explain, reload."""
