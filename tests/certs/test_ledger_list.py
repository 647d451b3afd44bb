"""The certificate ledger a page at a time: by client, state, expiry window and a search
by subject, serial or fingerprint, the same on the API and the admin page."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from custody.db import transaction
from custody.services import Services
from tests.certs.helpers import make_csr, self_signed
from tests.conftest import FrozenClock, World, auth


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # lists: nothing differs by database
    return sqlite_url


@pytest.fixture
def ledger(client: FlaskClient, world: World, services: Services,
           clock: FrozenClock) -> dict[str, Any]:
    """Three certificates issued to client A (one revoked), one imported that expires in
    ten days, and one issued to client B."""
    clock.now = datetime.now(UTC)  # the imported certificate's dates are real ones
    h = auth(world.admin_token)
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    for client_id, names in ((world.client_a, ["acme.test"]), (world.client_b, ["globex.test"])):
        assert client.put(f"/api/v1/clients/{client_id}/policy", headers=h,
                          json={"cert_names": names}).status_code == 200
    made = {}
    for name in ("vpn", "mail", "www"):
        csr, _ = make_csr(f"{name}.acme.test", [f"{name}.acme.test"])
        resp = client.post(f"/api/v1/clients/{world.client_a}/certificates", headers=h,
                           json={"csr": csr})
        assert resp.status_code == 201, resp.json
        made[name] = resp.json
    csr, _ = make_csr("vpn.globex.test", ["vpn.globex.test"])
    made["globex"] = client.post(f"/api/v1/clients/{world.client_b}/certificates", headers=h,
                                 json={"csr": csr}).json
    pem, _ = self_signed("legacy.acme.test", days=10)
    made["legacy"] = client.post(f"/api/v1/clients/{world.client_a}/certificates/import",
                                 headers=h, json={"pem": pem.decode()}).json
    assert client.post(f"/api/v1/certificates/{made['mail']['id']}/revoke", headers=h,
                       json={"reason": "superseded"}).status_code == 200
    return made


def _ids(client: FlaskClient, token: str, path: str = "/api/v1/certificates",
         **query: Any) -> list[int]:
    resp = client.get(path, headers=auth(token), query_string=query)
    assert resp.status_code == 200, resp.json
    return [c["id"] for c in resp.json["items"]]


def test_the_ledger_api_pages_newest_first_and_filters(
        client: FlaskClient, world: World, ledger: dict[str, Any], clock: FrozenClock) -> None:
    token = world.admin_token
    every = sorted((c["id"] for c in ledger.values()), reverse=True)
    seen: list[int] = []
    cursor = None
    while True:
        resp = client.get("/api/v1/certificates", headers=auth(token),
                          query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [c["id"] for c in resp.json["items"]]
        if (cursor := resp.json["next_cursor"]) is None:
            break
    assert seen == every  # newest first, each once

    a = world.client_a
    assert _ids(client, token, client_id=world.client_b) == [ledger["globex"]["id"]]
    assert _ids(client, token, state="revoked") == [ledger["mail"]["id"]]
    assert ledger["mail"]["id"] not in _ids(client, token, state="valid", client_id=a)
    assert _ids(client, token, expires_within_days=30) == [ledger["legacy"]["id"]]
    assert _ids(client, token, q="VPN.acme") == [ledger["vpn"]["id"]]
    serial = ledger["www"]["serial"]
    colons = ":".join(serial.rjust(len(serial) + len(serial) % 2, "0")[i:i + 2]
                      for i in range(0, len(serial) + len(serial) % 2, 2)).upper()
    assert _ids(client, token, q=colons) == [ledger["www"]["id"]]
    assert _ids(client, token, q=ledger["vpn"]["fingerprint_sha256"]) == [ledger["vpn"]["id"]]
    assert _ids(client, token, q="%_") == []  # LIKE's wildcards are plain characters here

    clock.advance(days=11)
    assert _ids(client, token, state="expired") == [ledger["legacy"]["id"]]
    assert _ids(client, token, expires_within_days=30) == []

    forged = [base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
              for key in ([10**30], [True], ["7"], [-1])]
    for bad in ({"state": "gone"}, {"expires_within_days": 4000}, {"expires_within_days": "-1"},
                {"limit": 0}, {"cursor": "nope"}, {"client_id": "x"},
                *({"cursor": c} for c in forged)):
        resp = client.get("/api/v1/certificates", headers=auth(token), query_string=bad)
        assert resp.status_code == 400, bad
        assert resp.json["error"]["fields"][0]["field"] == next(iter(bad))


def test_a_clients_user_pages_only_their_own_ledger(
        client: FlaskClient, world: World, ledger: dict[str, Any]) -> None:
    own = f"/api/v1/clients/{world.client_b}/certificates"
    assert _ids(client, world.user_b_token, own) == [ledger["globex"]["id"]]
    assert _ids(client, world.user_b_token, own, state="revoked") == []
    assert client.get("/api/v1/certificates",
                      headers=auth(world.user_b_token)).status_code == 403
    theirs = client.get(f"/api/v1/clients/{world.client_a}/certificates",
                        headers=auth(world.user_b_token))
    assert theirs.status_code in (403, 404)
    # Staff read a client's ledger; every client's at once is the admins'.
    assert len(_ids(client, world.tech_token, f"/api/v1/clients/{world.client_a}/certificates")) == 4
    assert client.get("/api/v1/certificates", headers=auth(world.tech_token)).status_code == 403
    first = client.get(f"/api/v1/clients/{world.client_a}/certificates",
                       headers=auth(world.admin_token), query_string={"limit": 2}).json
    assert len(first["items"]) == 2 and first["next_cursor"]


def test_the_certificates_page_filters_like_the_api(
        client: FlaskClient, world: World, ledger: dict[str, Any], login: Any) -> None:
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/certificates", query_string={"state": "revoked"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "mail.acme.test" in text and "vpn.acme.test" not in text
    assert '<option value="revoked" selected>' in text
    soon = client.get("/admin/certificates", query_string={"expires_within_days": 30})
    assert "legacy.acme.test" in soon.get_data(as_text=True)
    assert "www.acme.test" not in soon.get_data(as_text=True)
    bad = client.get("/admin/certificates", query_string={"state": "gone"},
                     follow_redirects=True)
    assert "Not shown: state must be one of" in bad.get_data(as_text=True)


def test_the_dashboard_lists_the_certificates_expiring_soon_and_links_them(
        client: FlaskClient, world: World, ledger: dict[str, Any], login: Any) -> None:
    login("root", "Admin-Pass-123!")
    home = client.get("/admin/").get_data(as_text=True)
    soon = home.split('id="expiring"')[1].split("</section>")[0]
    assert "CN=legacy.acme.test" in soon and "vpn.acme.test" not in soon
    assert "(9 days)" in soon or "(10 days)" in soon
    tile = home.split('aria-label="counts"')[1].split("</section>")[0]
    assert 'href="/admin/certificates?expires_within_days=30"><strong>1</strong>' in tile
