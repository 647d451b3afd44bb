"""A client's rights are the client's: a technician cannot change its contacts, consents,
restriction or erasure; an admin can, and is audited as acting for the client."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from custody.audit.models import AuditEvent
from custody.clients.models import Client, Contact
from custody.services import Services
from tests.conftest import World, auth


def test_a_technician_cannot_decide_for_the_client(client: FlaskClient, world: World,
                                                  services: Services) -> None:
    tech = auth(world.tech_token)
    attempts = [
        client.patch(f"/api/v1/contacts/{world.contact_a}", headers=tech,
                     json={"purposes": []}),
        client.patch(f"/api/v1/contacts/{world.contact_a}", headers=tech,
                     json={"value": "attacker@evil.test"}),
        client.post(f"/api/v1/clients/{world.client_a}/restriction", headers=tech,
                    json={"restricted": True}),
        client.post(f"/api/v1/clients/{world.client_a}/erasure-request", headers=tech),
    ]
    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    with services.db() as db:
        contact = db.get(Contact, world.contact_a)
        row = db.get(Client, world.client_a)
        assert contact is not None and row is not None
        assert contact.purposes == ["alerts"] and contact.value.startswith("ops-a-")
        assert row.processing_restricted_at is None and row.erasure_requested_at is None

    mine = client.patch(f"/api/v1/contacts/{world.contact_a}", headers=auth(world.user_a_token),
                        json={"purposes": ["billing"]})
    assert mine.status_code == 200
    admin = client.post(f"/api/v1/clients/{world.client_a}/restriction",
                        headers=auth(world.admin_token), json={"restricted": True})
    assert admin.status_code == 200
    with services.db() as db:
        [event] = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "client.restriction")).all()
        assert event.details.get("acting_for_client") is True
