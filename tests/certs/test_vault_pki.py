"""Certificates with a real OpenBao's PKI secrets engine holding the CA keys
(certs.backend = "vault"), reached through an AppRole bound to exactly the README's
policies. What comes back is checked with the real openssl CLI and pkilint, as with the
built-in CA."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from flask.testing import FlaskClient
from sqlalchemy import func, select

from custody.certs.models import Certificate, CertificateAuthority
from custody.config import Settings, VaultSettings
from custody.db import transaction
from custody.services import Services
from tests.certs.helpers import make_csr, openssl, verify_chain
from tests.certs.lint import lint_certificate, lint_crl
from tests.certs.test_profile import BASE_URL
from tests.conftest import World, auth, write_settings
from tests.peers import OpenBao, SmtpSink
from tests.secrets.test_openbao import readme_policy


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'custody.db'}"


@pytest.fixture
def mount(openbao: OpenBao) -> str:
    """A PKI mount of this test's own (one OpenBao serves the whole run)."""
    name = f"pki-{uuid.uuid4().hex[:8]}"
    openbao.bao("secrets", "enable", f"-path={name}", "pki")
    openbao.bao("secrets", "tune", "-max-lease-ttl=87600h", name)
    return name


def pki_policy(mount: str) -> str:
    """The README's policy, for this test's mount instead of `pki`."""
    return readme_policy("custody-pki").replace('path "pki/', f'path "{mount}/')


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink, openbao: OpenBao,
             mount: str) -> Settings:
    role_id, secret_id = openbao.approle(f"custody-{mount}", pki_policy(mount))
    base = write_settings(tmp_path, database_url, smtp.port, server={"base_url": BASE_URL})
    vault = VaultSettings.model_validate({"url": openbao.url, "auth": "approle",
                                         "role_id": role_id, "secret_id": secret_id})
    return base.model_copy(update={
        "certs": base.certs.model_copy(update={"backend": "vault", "vault_mount": mount}),
        "secrets": base.secrets.model_copy(update={"vault": vault})})


def test_openbao_holds_the_keys_signs_revokes_and_publishes_the_crl(
        client: FlaskClient, world: World, services: Services, openbao: OpenBao, mount: str,
        tmp_path: Path) -> None:
    h = auth(world.admin_token)
    with transaction(services.db) as db:
        root = services.certs.init_root(db, "test")
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=h,
               json={"cert_names": ["acme.test", "192.0.2.0/24"]})
    csr, _ = make_csr("vpn.acme.test", ["vpn.acme.test"])
    resp = client.post(f"/api/v1/clients/{world.client_a}/certificates", headers=h,
                       json={"csr": csr})
    assert resp.status_code == 201, resp.json
    issued = resp.json
    # The keys are OpenBao's: its issuers and keys are ours, and our store holds none.
    root_issuer, root_key = (root.key_path or "").split("/")
    assert root_key in openbao.bao("list", "-format=json", f"{mount}/keys")
    assert root_issuer in openbao.bao("list", "-format=json", f"{mount}/issuers")
    assert services.secrets.list_paths("provider/ca") == []

    verify_chain(tmp_path, issued["certificate"], issued["chain"])
    for pem in (issued["certificate"], *issued["chain"]):
        assert lint_certificate(pem) == [], pem
    # The CA decides the subject: the checked name alone, nothing else from the CSR.
    asking = make_csr("mail.acme.test", ["mail.acme.test", "ops@acme.test", "192.0.2.7"],
                      organization="Evil Bank Ltd")[0]
    other = client.post(f"/api/v1/clients/{world.client_a}/certificates", headers=h,
                        json={"csr": asking})
    assert other.status_code == 201, other.json
    leaf = x509.load_pem_x509_certificate(other.json["certificate"].encode())
    assert leaf.subject.rfc4514_string() == "CN=mail.acme.test"
    assert other.json["dropped_subject_attributes"] == ["O=Evil Bank Ltd"]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(map(str, sans.get_values_for_type(x509.DNSName))) == ["mail.acme.test"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    assert sans.get_values_for_type(x509.RFC822Name) == ["ops@acme.test"]
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in usages
    assert lint_certificate(other.json["certificate"]) == []

    revoked = client.post(f"/api/v1/certificates/{issued['id']}/revoke", headers=h,
                          json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.json
    crl = client.get(f"/crl/{issued['ca_id']}.crl").get_data()
    assert lint_crl(crl) == []
    (tmp_path / "crl.pem").write_text(client.get(f"/crl/{issued['ca_id']}.pem")
                                      .get_data(as_text=True))
    (tmp_path / "chain.pem").write_text(issued["chain"][0] + issued["chain"][1])
    check = openssl("verify", "-crl_check", "-CAfile", str(tmp_path / "chain.pem"), "-CRLfile",
                    str(tmp_path / "crl.pem"), str(tmp_path / "leaf.pem"))
    assert check.returncode != 0 and "certificate revoked" in check.stdout + check.stderr


def test_a_client_purge_deletes_its_issuer_and_key_in_openbao(
        client: FlaskClient, world: World, services: Services, openbao: OpenBao,
        mount: str) -> None:
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
        ca = services.certs.issuing_ca(db, world.client_a)
        issuer, key = (ca.key_path or "").split("/")
    assert issuer in openbao.bao("list", "-format=json", f"{mount}/issuers")
    assert key in openbao.bao("list", "-format=json", f"{mount}/keys")
    with transaction(services.db) as db:
        counts = services.certs.forget_client(db, world.client_a)
    assert counts["ca_keys"] == 1
    assert issuer not in openbao.bao("list", "-format=json", f"{mount}/issuers")
    assert key not in openbao.bao("list", "-format=json", f"{mount}/keys")


def test_openbao_refusing_is_a_clear_error_and_records_nothing(
        client: FlaskClient, world: World, services: Services, openbao: OpenBao,
        mount: str) -> None:
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=auth(world.admin_token),
               json={"cert_names": ["acme.test"]})
    # The role loses its PKI policy (as an operator's mistake would take it away).
    openbao.bao("policy", "write", f"custody-{mount}", "-",
                stdin=f'path "{mount}/issuer/+" {{ capabilities = ["read"] }}\n')
    resp = client.post(f"/api/v1/clients/{world.client_a}/certificates",
                       headers=auth(world.admin_token),
                       json={"csr": make_csr("vpn.acme.test", ["vpn.acme.test"])[0]})
    assert resp.status_code == 503
    assert "(403 permission denied)" in resp.json["error"]["message"]
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(Certificate)) == 0
        assert db.scalar(select(func.count()).select_from(CertificateAuthority)) == 1  # root


def test_a_refusal_half_way_leaves_nothing_behind(
        client: FlaskClient, world: World, services: Services, openbao: OpenBao,
        mount: str) -> None:
    """The key of a new issuing CA is made, then signing it is refused: custody records
    no CA and deletes the key it no longer needs."""
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    keys_before = openbao.bao("list", "-format=json", f"{mount}/keys")
    without_signing = "\n".join(line for line in pki_policy(mount).splitlines()
                                if "sign-intermediate" not in line)
    openbao.bao("policy", "write", f"custody-{mount}", "-", stdin=without_signing)
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=auth(world.admin_token),
               json={"cert_names": ["acme.test"]})
    resp = client.post(f"/api/v1/clients/{world.client_a}/certificates",
                       headers=auth(world.admin_token),
                       json={"csr": make_csr("vpn.acme.test", ["vpn.acme.test"])[0]})
    assert resp.status_code == 503
    assert "refused to sign the issuing CA (403" in resp.json["error"]["message"]
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(CertificateAuthority)) == 1  # root
    assert openbao.bao("list", "-format=json", f"{mount}/keys") == keys_before
