"""Certificate custody, checked with the real openssl CLI where it matters."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from flask.testing import FlaskClient

from custody.db import transaction
from custody.services import Services
from tests.certs.helpers import (
    make_csr,
    openssl,
    self_signed,
    tampered,
    verify_chain,
    weak_csr,
)
from tests.conftest import FrozenClock, World, auth, csrf_from, write_settings
from tests.peers import SmtpSink


@pytest.fixture
def pki(services: Services, world: World, client: FlaskClient) -> World:
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    resp = client.put(f"/api/v1/clients/{world.client_a}/policy", headers=auth(world.admin_token),
                      json={"cert_names": ["acme.test", "192.0.2.0/24"]})
    assert resp.status_code == 200 and resp.json["cert_names"] == ["acme.test", "192.0.2.0/24"]
    return world


def test_issue_from_csr_verify_revoke_and_crl(client: FlaskClient, pki: World,
                                              tmp_path: Path) -> None:
    h = auth(pki.admin_token)
    csr, _key = make_csr("vpn.acme.test", ["vpn.acme.test", "192.0.2.10"])
    resp = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h, json={"csr": csr})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["key_origin"] == "csr" and body["sans"] == ["vpn.acme.test", "ip:192.0.2.10"]
    verify_chain(tmp_path, body["certificate"], body["chain"])

    revoked = client.post(f"/api/v1/certificates/{body['id']}/revoke", headers=h,
                          json={"reason": "keyCompromise"})
    assert revoked.status_code == 200 and revoked.json["revocation_reason"] == "keyCompromise"
    again = client.post(f"/api/v1/certificates/{body['id']}/revoke", headers=h,
                        json={"reason": "keyCompromise"})
    assert again.status_code == 409 and "revoked already" in again.json["error"]["message"]

    ca_id = body["ca_id"]
    der = client.get(f"/crl/{ca_id}.crl")
    assert der.status_code == 200 and der.mimetype == "application/pkix-crl"
    pem = client.get(f"/crl/{ca_id}.pem").get_data(as_text=True)
    (tmp_path / "crl.pem").write_text(pem)
    chain_file = tmp_path / "cas.pem"
    chain_file.write_text(body["chain"][1] + body["chain"][0])
    check = openssl("verify", "-crl_check", "-CRLfile", str(tmp_path / "crl.pem"), "-CAfile",
                    str(chain_file), str(tmp_path / "leaf.pem"))
    assert check.returncode != 0 and "certificate revoked" in check.stdout + check.stderr
    text = openssl("crl", "-in", str(tmp_path / "crl.pem"), "-noout", "-text").stdout
    assert body["serial"].upper().lstrip("0") in text.replace(":", "").upper()
    assert "Key Compromise" in text


@pytest.mark.parametrize(("make", "message"), [
    (lambda: "garbage", "csr: not a PEM certificate signing request"),
    (lambda: tampered(make_csr("a.acme.test", ["a.acme.test"])[0]), "signature does not verify"),
    (lambda: weak_csr("a.acme.test"), "RSA 1024-bit keys are too weak"),
    (lambda: make_csr("evil.example.org", ["evil.example.org"])[0],
     "evil.example.org: DNS name outside this client's allowed names"),
    (lambda: make_csr("x.acme.test", ["x.acme.test", "198.51.100.1"])[0],
     "198.51.100.1: IP address not allowed"),
])
def test_bad_csrs_are_refused(client: FlaskClient, pki: World, make: object, message: str) -> None:
    resp = client.post(f"/api/v1/clients/{pki.client_a}/certificates",
                       headers=auth(pki.admin_token), json={"csr": make()})  # type: ignore[operator]
    assert resp.status_code == 400 and message in resp.json["error"]["message"], resp.json
    listed = client.get(f"/api/v1/clients/{pki.client_a}/certificates",
                        headers=auth(pki.admin_token)).json["items"]
    assert listed == []  # nothing issued, nothing recorded


def test_generated_key_is_handed_over_once_then_gone(client: FlaskClient, pki: World,
                                                     services: Services, tmp_path: Path) -> None:
    h = auth(pki.admin_token)
    resp = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h,
                       json={"generate": {"common_name": "mail.acme.test",
                                          "sans": ["mail.acme.test"]}})
    assert resp.status_code == 201, resp.json
    passphrase, cid = resp.json["passphrase"], resp.json["id"]
    assert resp.json["download_pending"] is True
    listed = client.get(f"/api/v1/certificates/{cid}", headers=h).json
    assert "passphrase" not in listed  # shown once, in the issuing response only

    prefetched = client.get(f"/api/v1/certificates/{cid}/bundle", headers=auth(pki.user_a_token))
    assert prefetched.status_code == 405  # a link prefetcher's GET cannot burn the key
    bundle = client.post(f"/api/v1/certificates/{cid}/bundle", headers=auth(pki.user_a_token))
    assert bundle.status_code == 200 and bundle.headers["Cache-Control"] == "no-store"
    p12 = tmp_path / "bundle.p12"
    p12.write_bytes(bundle.data)
    info = openssl("pkcs12", "-in", str(p12), "-passin", f"pass:{passphrase}", "-nodes")
    assert info.returncode == 0, info.stderr
    assert "BEGIN PRIVATE KEY" in info.stdout and info.stdout.count("BEGIN CERTIFICATE") == 3

    second = client.post(f"/api/v1/certificates/{cid}/bundle", headers=h)
    assert second.status_code == 409 and "no longer exists here" in second.json["error"]["message"]
    record = client.get(f"/api/v1/certificates/{cid}", headers=h).json
    assert record["handover_method"] == "pkcs12-download" and record["handed_over_at"]

    loaded = pkcs12.load_pkcs12(bundle.data, passphrase.encode())
    assert loaded.key is not None
    canaries = [
        loaded.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()),
        loaded.key.private_numbers().private_value.to_bytes(32, "big"),  # type: ignore[union-attr]
        bundle.data, bundle.data.hex().encode(),
    ]
    if services.engine.dialect.name == "sqlite":
        install = services.settings.base_dir
        stored = b"".join(p.read_bytes() for p in install.rglob("*")
                          if p.is_file() and p.name != "bundle.p12")
        assert not [c for c in canaries if c in stored]
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") == []


def test_undownloaded_key_is_destroyed_after_the_window(client: FlaskClient, pki: World,
                                                        services: Services,
                                                        clock: FrozenClock) -> None:
    h = auth(pki.admin_token)
    cid = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h, json={
        "generate": {"common_name": "a.acme.test", "sans": ["a.acme.test"]}}).json["id"]
    clock.advance(hours=25)
    with transaction(services.db) as db:
        assert services.certs.expire_bundles(db) == 1
    late = client.post(f"/api/v1/certificates/{cid}/bundle", headers=h)
    assert late.status_code == 409
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") == []


def test_revoking_a_generated_certificate_destroys_its_waiting_key(
        client: FlaskClient, pki: World, services: Services) -> None:
    """A revoked certificate's key is of no use: it is not kept for a hand-over, and the
    portal offers no download."""
    h = auth(pki.admin_token)
    cid = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h, json={
        "generate": {"common_name": "c.acme.test", "sans": ["c.acme.test"]}}).json["id"]
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") != []
    assert client.post(f"/api/v1/certificates/{cid}/revoke", headers=h,
                       json={"reason": "superseded"}).status_code == 200
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") == []
    late = client.post(f"/api/v1/certificates/{cid}/bundle", headers=auth(pki.user_a_token))
    assert late.status_code == 409


def test_import_tracks_certificates_but_never_keys(client: FlaskClient, pki: World) -> None:
    h = auth(pki.admin_token)
    url = f"/api/v1/clients/{pki.client_a}/certificates/import"
    good, key = self_signed("legacy.acme.test", days=60)
    ok = client.post(url, headers=h, json={"pem": good.decode()})
    assert ok.status_code == 201 and ok.json["key_origin"] == "imported"
    assert client.post(url, headers=h, json={"pem": good.decode()}).status_code == 409
    with_key, _ = self_signed("k.acme.test", days=60, with_key=True)
    refused = client.post(url, headers=h, json={"pem": with_key.decode()})
    assert refused.status_code == 400 and "contains a private key" in refused.json["error"]["message"]
    expired, _ = self_signed("old.acme.test", days=-60)  # before the frozen clock too
    gone = client.post(url, headers=h, json={"pem": expired.decode()})
    assert gone.status_code == 400 and "expired on" in gone.json["error"]["message"]
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(good)
    p12 = pkcs12.serialize_key_and_certificates(b"x", key, cert, None,  # type: ignore[arg-type]
                                                serialization.NoEncryption())
    keyed = client.post(url, headers=h, json={"der_base64": base64.b64encode(p12).decode()})
    assert keyed.status_code == 400 and "private key" in keyed.json["error"]["message"]
    junk = client.post(url, headers=h, json={"der_base64": base64.b64encode(b"junk").decode()})
    assert junk.status_code == 400 and "not a certificate" in junk.json["error"]["message"]


def test_renewal_links_and_stops_reminders(client: FlaskClient, pki: World, services: Services,
                                           clock: FrozenClock, mailbox: object) -> None:
    h = auth(pki.admin_token)
    csr, key = make_csr("vpn.acme.test", ["vpn.acme.test"])
    old = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h,
                      json={"csr": csr}).json
    other, _ = make_csr("other.acme.test", ["other.acme.test"])
    mismatch = client.post(f"/api/v1/certificates/{old['id']}/renew", headers=h, json={"csr": other})
    assert mismatch.status_code == 400 and "differs" in mismatch.json["error"]["message"]
    new_csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    clock.advance(days=100)
    new = client.post(f"/api/v1/certificates/{old['id']}/renew", headers=h, json={"csr": new_csr})
    assert new.status_code == 201 and new.json["replaces_id"] == old["id"]
    from custody.clients.models import Contact

    with transaction(services.db) as db:
        contact = db.get(Contact, pki.contact_a)
        assert contact is not None
        contact.verified_at, contact.purposes = clock(), ["technical"]
    clock.advance(days=397 - 120)  # the old one is 20 days from expiry, but it was replaced
    with transaction(services.db) as db:
        assert services.certs.expiry_notices(db) == 0


def test_expiry_reminders_once_each(client: FlaskClient, pki: World, services: Services,
                                    clock: FrozenClock, mailbox: object) -> None:
    from tests.peers import SmtpSink

    assert isinstance(mailbox, SmtpSink)
    h = auth(pki.admin_token)
    from custody.clients.models import Contact

    with transaction(services.db) as db:
        contact = db.get(Contact, pki.contact_a)
        assert contact is not None
        contact.verified_at, contact.purposes = clock(), ["technical"]
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h, json={"csr": csr})
    mailbox.messages.clear()
    clock.advance(days=397 - 20)  # 20 days left: the 30-day reminder
    with transaction(services.db) as db:
        assert services.certs.expiry_notices(db) == 1
        assert services.certs.expiry_notices(db) == 0  # once
    clock.advance(days=7)  # 13 days left: the 14-day reminder
    with transaction(services.db) as db:
        assert services.certs.expiry_notices(db) == 1
    [first, second] = mailbox.wait_for(2)
    assert "expires on" in first.get_payload(decode=True).decode()
    assert first["To"] == "ops-a-zzcanarya@example.test"


def test_clients_see_only_their_certificates(client: FlaskClient, pki: World) -> None:
    h = auth(pki.admin_token)
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    cid = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h,
                      json={"csr": csr}).json["id"]
    mine = client.get(f"/api/v1/clients/{pki.client_a}/certificates",
                      headers=auth(pki.user_a_token))
    assert [c["id"] for c in mine.json["items"]] == [cid]
    pem = client.get(f"/api/v1/certificates/{cid}/pem", headers=auth(pki.user_a_token))
    assert pem.status_code == 200 and pem.get_data(as_text=True).count("BEGIN CERTIFICATE") == 3
    export = client.get(f"/api/v1/clients/{pki.client_a}/export", headers=auth(pki.user_a_token))
    assert [c["id"] for c in export.json["certificates"]] == [cid]
    for url in (f"/api/v1/certificates/{cid}", f"/api/v1/certificates/{cid}/pem",
                f"/api/v1/clients/{pki.client_a}/certificates"):
        assert client.get(url, headers=auth(pki.user_b_token)).status_code == 404
    assert client.post(f"/api/v1/certificates/{cid}/revoke", headers=auth(pki.user_a_token),
                       json={"reason": "superseded"}).status_code == 403


def test_client_purge_keeps_only_crl_entries(client: FlaskClient, pki: World,
                                             services: Services, tmp_path: Path) -> None:
    h = auth(pki.admin_token)
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    issued = client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h,
                         json={"csr": csr}).json
    client.post(f"/api/v1/certificates/{issued['id']}/revoke", headers=h,
                json={"reason": "cessationOfOperation"})
    client.post(f"/api/v1/clients/{pki.client_a}/certificates", headers=h, json={
        "generate": {"common_name": "b.acme.test", "sans": ["b.acme.test"]}})
    client.patch(f"/api/v1/engagements/{pki.engagement_a}", headers=h,
                 json={"paid_at": "2026-09-01"})
    client.post(f"/api/v1/clients/{pki.client_a}/close", headers=h)
    run = client.post("/api/v1/purge/run", headers=h, json={})
    [receipt] = [r for r in run.json["receipts"] if r["kind"] == "client"]
    assert receipt["counts"]["certificates"] == 2 and receipt["counts"]["ca_keys"] == 1
    assert client.get(f"/api/v1/certificates/{issued['id']}", headers=h).status_code == 404
    # The CRL stays published, signed to last until the revoked certificate would expire.
    pem = client.get(f"/crl/{issued['ca_id']}.pem").get_data(as_text=True)
    (tmp_path / "crl.pem").write_text(pem)
    text = openssl("crl", "-in", str(tmp_path / "crl.pem"), "-noout", "-text").stdout
    assert issued["serial"].upper().lstrip("0") in text.replace(":", "").upper()
    assert "Next Update: " in text and "2027" in text.split("Next Update:")[1].splitlines()[0]
    assert services.secrets.list_paths("provider/ca") == ["provider/ca/root"]  # issuing key gone


def test_portal_lists_the_clients_certificates(client: FlaskClient, pki: World,
                                               login: object) -> None:
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    cid = client.post(f"/api/v1/clients/{pki.client_a}/certificates",
                      headers=auth(pki.admin_token), json={"csr": csr}).json["id"]
    login("user-a", "Client-a-Pass-123!")  # type: ignore[operator]
    page = client.get("/portal/").get_data(as_text=True)
    assert "CN=vpn.acme.test" in page and f"/api/v1/certificates/{cid}/pem" in page
    assert page.count("Your certificates") == 1
    assert "<title>My services · custody</title>" in page
    assert client.get(f"/api/v1/certificates/{cid}/pem").status_code == 200  # with the cookie


def test_init_makes_the_root_and_ca_init_prints_only_what_it_committed(
        tmp_path: Path, smtp: SmtpSink) -> None:
    import os
    import sys

    custody = str(Path(sys.executable).parent / "custody")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    site = tmp_path / "site"
    subprocess.run([custody, "init", "--dir", str(site)], check=True, env=env,
                   capture_output=True)
    again = subprocess.run([custody, "ca", "init"], cwd=site, env=env, capture_output=True,
                           text=True)
    assert again.returncode == 1 and "the root CA exists already" in again.stderr
    # A reader that goes away before the output: the CA is committed all the same.
    bare = tmp_path / "bare"
    write_settings(bare, f"sqlite:///{bare / 'custody.db'}", smtp.port)
    config = bare / "custody.toml"
    closed = subprocess.Popen([custody, "--config", str(config), "ca", "init"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert closed.stdout is not None
    closed.stdout.close()
    closed.wait(timeout=60)
    after = subprocess.run([custody, "--config", str(config), "ca", "init"], env=env,
                           capture_output=True, text=True)
    assert after.returncode == 1 and "the root CA exists already" in after.stderr


def test_the_client_downloads_its_key_once_by_a_post_from_its_page(
        client: FlaskClient, pki: World, services: Services, login: Any) -> None:
    cid = client.post(f"/api/v1/clients/{pki.client_a}/certificates",
                      headers=auth(pki.admin_token), json={"generate": {
                          "common_name": "k.acme.test", "sans": ["k.acme.test"]}}).json["id"]
    assert login("user-a", "Client-a-Pass-123!").status_code == 302
    page = client.get(f"/portal/certificates/{cid}/key")
    assert page.status_code == 200 and "It can be downloaded once" in page.get_data(as_text=True)
    forged = client.post(f"/portal/certificates/{cid}/key")  # a cross-site form: no token
    assert forged.status_code == 400
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") != []  # still there
    token = csrf_from(page.get_data(as_text=True))
    got = client.post(f"/portal/certificates/{cid}/key", data={"csrf_token": token})
    assert got.status_code == 200 and got.mimetype == "application/x-pkcs12" and got.data
    assert services.secrets.list_paths(f"client-{pki.client_a}/certs") == []
    again = client.post(f"/portal/certificates/{cid}/key", data={"csrf_token": token})
    assert again.status_code == 409
