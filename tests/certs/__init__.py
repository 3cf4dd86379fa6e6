"""Tests for warden.certs, the interception CA lifecycle."""
