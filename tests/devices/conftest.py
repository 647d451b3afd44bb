"""Broker tests talk to real SSH peers (fixtures in tests/lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Broker tests talk to real SSH peers; one database is enough (models are covered twice
    by the API tests)."""
    return f"sqlite:///{tmp_path / 'var' / 'custody.db'}"
