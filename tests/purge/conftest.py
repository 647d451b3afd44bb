"""Purge tests reuse the broker lab: a real sshd device leaves real transcripts to destroy."""

from __future__ import annotations

from tests.devices.conftest import fresh_sshd, ios, lab, sshd

__all__ = ["fresh_sshd", "ios", "lab", "sshd"]
