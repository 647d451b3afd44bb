"""Certificates with Vault's PKI secrets engine holding the CA keys (certs.backend = "vault").

No Vault server can be installed here: the engine is a loopback stand-in that answers
Vault's documented PKI paths with real keys and signatures (tests/vault_pki_fake.py),
and records every request, so these tests pin what custody sends. What comes back is
checked with the real openssl CLI, as with the built-in CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from custody.config import Settings, VaultSettings
from custody.db import transaction
from custody.services import Services
from tests.certs.helpers import make_csr, openssl, verify_chain
from tests.conftest import World, auth, write_settings
from tests.peers import SmtpSink
from tests.vault_fake import FakeVault


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'custody.db'}"


@pytest.fixture
def fake_vault() -> Iterator[FakeVault]:
    vault = FakeVault().start()
    yield vault
    vault.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink, fake_vault: FakeVault
             ) -> Settings:
    base = write_settings(tmp_path, database_url, smtp.port)
    vault = VaultSettings.model_validate({"url": fake_vault.url, "token": fake_vault.token})
    return base.model_copy(update={
        "certs": base.certs.model_copy(update={"backend": "vault", "vault_mount": "pki"}),
        "secrets": base.secrets.model_copy(update={"vault": vault})})


def test_vault_holds_the_keys_signs_revokes_and_publishes_the_crl(
        client: FlaskClient, world: World, services: Services, fake_vault: FakeVault,
        tmp_path: Path) -> None:
    h = auth(world.admin_token)
    with transaction(services.db) as db:
        root = services.certs.init_root(db, "test")
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=h,
               json={"cert_names": ["acme.test"]})
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    resp = client.post(f"/api/v1/clients/{world.client_a}/certificates", headers=h,
                       json={"csr": csr})
    assert resp.status_code == 201, resp.json
    issued = resp.json

    sent = [(r.method, r.path) for r in fake_vault.requests if "/pki/" in r.path]
    root_issuer, root_key = (root.key_path or "").split("/")
    assert sent[:6] == [
        ("POST", "/v1/pki/root/generate/internal"),
        ("POST", "/v1/pki/intermediate/generate/internal"),
        ("POST", f"/v1/pki/issuer/{root_issuer}/sign-intermediate"),
        ("POST", "/v1/pki/intermediate/set-signed"),
        ("POST", sent[4][1]), ("POST", sent[5][1])]
    # The issuing CA's URLs point at custody's CRL and CA certificate, then it signs.
    assert sent[5][1] == sent[4][1] + "/sign-verbatim" and root_issuer not in sent[4][1]
    urls = next(r.body for r in fake_vault.requests if r.path == sent[4][1])
    assert urls["crl_distribution_points"][0].endswith(".crl")
    assert urls["issuing_certificates"][0].endswith(".crt")
    generate = next(r for r in fake_vault.requests if r.path.endswith("root/generate/internal"))
    assert generate.body == {
        "common_name": "custody root CA", "organization": "custody", "key_type": "ec",
        "key_bits": 256, "ttl": f"{services.settings.certs.root_days * 24}h",
        "issuer_name": "custody-root"}
    assert all(r.token == fake_vault.token for r in fake_vault.requests)
    # No private key ever came back from Vault, and none was written to our store.
    assert not [r for r in fake_vault.requests if "private_key" in str(r.body)]
    assert services.secrets.list_paths("provider/ca") == []
    assert root_key in fake_vault.pki.keys

    verify_chain(tmp_path, issued["certificate"], issued["chain"])

    revoked = client.post(f"/api/v1/certificates/{issued['id']}/revoke", headers=h,
                          json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.json
    revoke = next(r for r in fake_vault.requests if r.path == "/v1/pki/revoke")
    assert revoke.body["serial_number"].replace(":", "") .lstrip("0") == \
        issued["serial"].lstrip("0")
    (tmp_path / "crl.pem").write_text(client.get(f"/crl/{issued['ca_id']}.pem")
                                      .get_data(as_text=True))
    (tmp_path / "chain.pem").write_text(issued["chain"][0] + issued["chain"][1])
    check = openssl("verify", "-crl_check", "-CAfile", str(tmp_path / "chain.pem"), "-CRLfile",
                    str(tmp_path / "crl.pem"), str(tmp_path / "leaf.pem"))
    assert check.returncode != 0 and "certificate revoked" in check.stdout + check.stderr


def test_a_client_purge_deletes_its_issuer_and_key_in_vault(
        client: FlaskClient, world: World, services: Services, fake_vault: FakeVault) -> None:
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
        ca = services.certs.issuing_ca(db, world.client_a)
        issuer, key = (ca.key_path or "").split("/")
    assert issuer in fake_vault.pki.issuers and key in fake_vault.pki.keys
    with transaction(services.db) as db:
        counts = services.certs.forget_client(db, world.client_a)
    assert counts["ca_keys"] == 1
    assert issuer not in fake_vault.pki.issuers and key not in fake_vault.pki.keys
    assert ("DELETE", f"/v1/pki/key/{key}") in [(r.method, r.path) for r in fake_vault.requests]


def test_vault_refusing_is_a_clear_error_and_records_nothing(
        client: FlaskClient, world: World, services: Services, fake_vault: FakeVault) -> None:
    from sqlalchemy import func, select

    from custody.certs.models import Certificate, CertificateAuthority

    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=auth(world.admin_token),
               json={"cert_names": ["acme.test"]})
    fake_vault.forbid = True  # the token lost its policy
    resp = client.post(f"/api/v1/clients/{world.client_a}/certificates",
                       headers=auth(world.admin_token),
                       json={"csr": make_csr("vpn.acme.test", ["vpn.acme.test"])[0]})
    assert resp.status_code == 503
    assert "refused to create an issuing CA key (403 permission denied)" in \
        resp.json["error"]["message"]
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(Certificate)) == 0
        assert db.scalar(select(func.count()).select_from(CertificateAuthority)) == 1  # root
