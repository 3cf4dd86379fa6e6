"""Tests for warden.audit: record, chain, store, writer, checkpoints, verify, retention, export."""
