"""A running `custody serve` for alert sources that post over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custody.cli import initialize
from custody.config import load_settings
from custody.db import transaction
from custody.services import Services, build_services
from tests.peers import SmtpSink, free_port
from tests.served import running


@dataclass
class Served:
    base: str
    site: Path
    services: Services
    admin: dict[str, str]


@pytest.fixture
def served(tmp_path: Path, smtp: SmtpSink) -> Iterator[Served]:
    site = tmp_path / "site"
    port = free_port()
    initialize(site, "boss", port)
    config = site / "custody.toml"
    config.write_text(config.read_text().replace("port = 25", f"port = {smtp.port}"))
    svc = build_services(load_settings(config, environ={}))
    with transaction(svc.db) as db:
        token = svc.tokens.create(db, "test", "boss")
    try:
        with running(["serve"], site, port):
            yield Served(f"http://127.0.0.1:{port}", site, svc,
                         {"Authorization": f"Bearer {token}"})
    finally:
        svc.engine.dispose()


def client_with_source(served: Served, client: str, address: str, source: str,
                       kind: str) -> tuple[int, str]:
    """A client with a verified alert contact and a source bound to it, through the running
    service's API; returns the client's id and the source's token."""
    import requests

    from custody.clients.models import Contact

    base, h = served.base, served.admin
    client_id = requests.post(f"{base}/api/v1/clients", json={"name": client}, headers=h,
                              timeout=10).json()["id"]
    contact = requests.post(f"{base}/api/v1/clients/{client_id}/contacts", headers=h, timeout=10,
                            json={"kind": "email", "value": address,
                                  "purposes": ["alerts"]}).json()
    with transaction(served.services.db) as db:
        row = db.get(Contact, contact["id"])
        assert row is not None
        row.verified_at = served.services.clock()
    token = requests.post(f"{base}/api/v1/alert-sources", headers=h, timeout=10, json={
        "name": source, "kind": kind, "client_id": client_id}).json()["token"]
    return client_id, str(token)
