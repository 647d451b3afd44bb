"""What the CA issues, checked by tools nobody here wrote: pkilint's RFC 5280 linters on
every certificate and CRL, and `openssl verify -x509_strict -crl_check_all` with the CRLs
fetched from the URLs the certificates name. Each defect the certificate review found
has a test here that fails if it comes back."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from flask.testing import FlaskClient

from custody.config import Settings, load_settings
from custody.db import transaction
from custody.services import Services, build_services
from custody.web import create_app
from tests.certs.helpers import openssl
from tests.certs.lint import lint_certificate, lint_crl
from tests.conftest import FrozenClock, World, auth, write_settings
from tests.peers import SmtpSink

POLICY = ["acme.test", "192.0.2.0/24"]
BASE_URL = "https://custody.msp.example"  # a real host name: linters refuse "localhost" URIs


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """What a certificate carries does not depend on the database (tests/certs/test_certs.py
    issues on both)."""
    return sqlite_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink) -> Settings:
    return write_settings(tmp_path, database_url, smtp.port, server={"base_url": BASE_URL})


def csr_for(cn: str | None, sans: list[str], key: Any = None,
            extra: list[x509.NameAttribute] | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    general: list[x509.GeneralName] = []
    for name in sans:
        if name.startswith("email:"):
            general.append(x509.RFC822Name(name[6:]))
        else:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                general.append(x509.DNSName(name))
    subject = ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []) + (extra or [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def issue(client: FlaskClient, world: World, **body: Any) -> Any:
    return client.post(f"/api/v1/clients/{world.client_a}/certificates",
                       headers=auth(world.admin_token), json=body)


def fetch(client: FlaskClient, url: str) -> bytes:
    """GET what a certificate's URL names, from the service itself."""
    resp = client.get(urlsplit(url).path)
    assert resp.status_code == 200, url
    return resp.data


def crl_url(cert: x509.Certificate) -> str:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return str(points[0].full_name[0].value)  # type: ignore[index]


@pytest.fixture
def pki(services: Services, world: World, client: FlaskClient) -> World:
    resp = client.put(f"/api/v1/clients/{world.client_a}/policy",
                      headers=auth(world.admin_token), json={"cert_names": POLICY})
    assert resp.status_code == 200, resp.json
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
    return world


def test_every_kind_lints_clean_and_verifies_strictly_with_crls_from_their_urls(
        client: FlaskClient, pki: World, tmp_path: Path, clock: FrozenClock) -> None:
    kinds = {
        "p256-dns": csr_for("www.acme.test", ["www.acme.test", "*.api.acme.test"]),
        "p384-ip": csr_for("192.0.2.7", ["192.0.2.7"], ec.generate_private_key(ec.SECP384R1())),
        "rsa3072-email": csr_for("mail.acme.test", ["mail.acme.test", "email:ops@acme.test"],
                                 rsa.generate_private_key(public_exponent=65537,
                                                          key_size=3072)),
    }
    leaves = {}
    for label, csr in kinds.items():
        resp = issue(client, pki, csr=csr)
        assert resp.status_code == 201, (label, resp.json)
        leaves[label] = resp.json
    generated = issue(client, pki, generate={"common_name": "gen.acme.test",
                                             "sans": ["gen.acme.test", "192.0.2.8"]})
    assert generated.status_code == 201, generated.json
    leaves["generated"] = generated.json
    issuing_pem, root_pem = leaves["generated"]["chain"]
    for label, pem in [("root", root_pem), ("issuing", issuing_pem),
                       *((k, v["certificate"]) for k, v in leaves.items())]:
        assert lint_certificate(pem) == [], label

    leaf = x509.load_pem_x509_certificate(leaves["p256-dns"]["certificate"].encode())
    issuing = x509.load_pem_x509_certificate(issuing_pem.encode())
    assert client.post(f"/api/v1/certificates/{leaves['rsa3072-email']['id']}/revoke",
                       headers=auth(pki.admin_token),
                       json={"reason": "keyCompromise"}).status_code == 200
    # The CRLs come from the URLs in the certificates, served by custody.
    leaf_crl = x509.load_der_x509_crl(fetch(client, crl_url(leaf)))
    root_crl = x509.load_der_x509_crl(fetch(client, crl_url(issuing)))
    for crl in (leaf_crl, root_crl):
        der = crl.public_bytes(serialization.Encoding.DER)
        assert lint_crl(der) == []
        assert all(r.revocation_date_utc <= crl.last_update_utc for r in crl)
    assert len(list(leaf_crl)) == 1
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert fetch(client, str(aia[0].access_location.value)) == issuing.public_bytes(
        serialization.Encoding.DER)

    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "issuing.pem").write_text(issuing_pem)
    (tmp_path / "crls.pem").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (leaf_crl, root_crl)))

    def verify(label: str) -> Any:
        (tmp_path / "leaf.pem").write_text(leaves[label]["certificate"])
        return openssl("verify", "-x509_strict", "-crl_check_all", "-purpose", "sslserver",
                       "-attime", str(int(clock().timestamp())),  # the service's time
                       "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                       str(tmp_path / "issuing.pem"), "-CRLfile", str(tmp_path / "crls.pem"),
                       str(tmp_path / "leaf.pem"))

    for label in ("p256-dns", "p384-ip", "generated"):
        ok = verify(label)
        assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), (label, ok.stderr)
    revoked = verify("rsa3072-email")
    assert revoked.returncode != 0 and "revoked" in revoked.stdout + revoked.stderr


def test_leaves_carry_usages_identifiers_and_the_email_purpose(client: FlaskClient,
                                                              pki: World) -> None:
    resp = issue(client, pki, csr=csr_for("mail.acme.test",
                                          ["mail.acme.test", "email:ops@acme.test"]))
    cert = x509.load_pem_x509_certificate(resp.json["certificate"].encode())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in purposes
    assert crl_url(cert).startswith(BASE_URL + "/crl/") and crl_url(cert).endswith(".crl")


@pytest.mark.parametrize(("body", "problem"), [
    ({"csr": csr_for("www.evil-bank.com", ["ok.acme.test"])}, "www.evil-bank.com: DNS name"),
    ({"generate": {"common_name": "www.evil-bank.com", "sans": ["ok.acme.test"]}},
     "www.evil-bank.com: DNS name"),
    ({"csr": csr_for("x.acme.test", ["bad name!.acme.test"])}, "not a valid DNS name"),
    ({"csr": csr_for("x.acme.test", ["a..acme.test"])}, "not a valid DNS name"),
    ({"csr": csr_for("x.acme.test", ["*.*.acme.test"])}, "not a valid DNS name"),
    ({"csr": csr_for("x.acme.test", ["foo_bar.acme.test"])}, "not a valid DNS name"),
    ({"csr": csr_for("x.acme.test", ["x" * 64 + ".acme.test"])}, "not a valid DNS name"),
])
def test_names_outside_the_policy_or_malformed_are_refused(client: FlaskClient, pki: World,
                                                           body: Any, problem: str) -> None:
    resp = issue(client, pki, **body)
    assert resp.status_code == 400 and problem in resp.json["error"]["message"], resp.json
    ledger = client.get(f"/api/v1/clients/{pki.client_a}/certificates",
                        headers=auth(pki.admin_token)).json["items"]
    assert ledger == []


def test_a_refusal_names_the_entry_it_needs_and_where_to_set_it(client: FlaskClient,
                                                                pki: World) -> None:
    resp = issue(client, pki, csr=csr_for("vpn.other.example", ["vpn.other.example"]))
    message = resp.json["error"]["message"]
    assert "add other.example" in message
    assert f"PUT /api/v1/clients/{pki.client_a}/policy" in message


def test_idn_names_become_a_labels_and_other_subject_attributes_are_dropped(
        client: FlaskClient, pki: World) -> None:
    csr = csr_for("bücher.acme.test", [], extra=[
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Bank Inc"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ceo@evil-bank.com")])
    resp = issue(client, pki, csr=csr)
    assert resp.status_code == 201, resp.json
    cert = x509.load_pem_x509_certificate(resp.json["certificate"].encode())
    assert cert.subject.rfc4514_string() == "CN=xn--bcher-kva.acme.test"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["xn--bcher-kva.acme.test"]
    assert sorted(resp.json["dropped_subject_attributes"]) == [
        "1.2.840.113549.1.9.1=ceo@evil-bank.com", "O=Evil Bank Inc"]
    generated = issue(client, pki, generate={"common_name": "Straße.acme.test", "sans": []})
    assert generated.status_code == 201, generated.json
    assert generated.json["sans"] == ["xn--strae-oqa.acme.test"]


def test_the_cn_is_repeated_among_the_sans(client: FlaskClient, pki: World) -> None:
    resp = issue(client, pki, csr=csr_for("a.acme.test", ["b.acme.test"]))
    cert = x509.load_pem_x509_certificate(resp.json["certificate"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.acme.test", "b.acme.test"]


@pytest.mark.parametrize(("reason", "status", "hint"), [
    ("keyCompromise", 200, None), ("cessationOfOperation", 200, None),
    ("cACompromise", 400, "end-entity"), ("aACompromise", 400, "end-entity"),
    ("certificateHold", 400, "a revocation here is final"), ("removeFromCRL", 400, None),
])
def test_only_end_entity_revocation_reasons(client: FlaskClient, pki: World, reason: str,
                                            status: int, hint: str | None) -> None:
    cert_id = issue(client, pki, csr=csr_for("r.acme.test", ["r.acme.test"])).json["id"]
    resp = client.post(f"/api/v1/certificates/{cert_id}/revoke", headers=auth(pki.admin_token),
                       json={"reason": reason})
    assert resp.status_code == status, resp.json
    if hint:
        assert hint in resp.json["error"]["message"]


def test_policy_names_are_checked_when_they_are_set(client: FlaskClient, world: World) -> None:
    url, h = f"/api/v1/clients/{world.client_a}/policy", auth(world.admin_token)
    for bad in ("*.acme.example", "bad name.example", "acme..example"):
        resp = client.put(url, headers=h, json={"cert_names": [bad]})
        assert resp.status_code == 400, bad
        assert "'acme.example' allows it and every name under it" in resp.json["error"]["message"]
    ok = client.put(url, headers=h, json={"cert_names": ["Bücher.Example", "10.1.0.0/16",
                                                          "192.0.2.1"]})
    assert ok.json["cert_names"] == ["xn--bcher-kva.example", "10.1.0.0/16", "192.0.2.1"]


def _own_services(tmp_path: Path, smtp: SmtpSink, clock: FrozenClock,
                  **certs: Any) -> tuple[Services, Flask]:
    settings: Settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", smtp.port,
                                        certs=certs)
    services = build_services(settings, clock=clock)
    return services, create_app(services=services)


def test_no_ca_outlives_its_issuer_and_p384_signs_with_sha384(
        tmp_path: Path, smtp: SmtpSink, clock: FrozenClock) -> None:
    services, _ = _own_services(tmp_path, smtp, clock, root_days=30, issuing_days=1825,
                                key_type="ecdsa-p384")
    with transaction(services.db) as db:
        root = services.certs.init_root(db, "test")
        client_id = services.clients.create_client(db, "test", "Acme").id
        issuing = services.certs.issuing_ca(db, client_id)
    root_cert = x509.load_pem_x509_certificate(root.cert_pem.encode())
    issuing_cert = x509.load_pem_x509_certificate(issuing.cert_pem.encode())
    assert issuing_cert.not_valid_after_utc <= root_cert.not_valid_after_utc
    for cert in (root_cert, issuing_cert):
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    services.engine.dispose()


def test_issuing_without_a_base_url_says_to_set_it(tmp_path: Path, smtp: SmtpSink,
                                                  clock: FrozenClock) -> None:
    services, _ = _own_services(tmp_path, smtp, clock)
    services = build_services(load_settings(tmp_path / "custody.toml",
                                            environ={"CUSTODY_SERVER__BASE_URL": ""}), clock=clock)
    with transaction(services.db) as db:
        services.certs.init_root(db, "test")
        client_id = services.clients.create_client(db, "test", "Acme").id
    from custody.accounts.service import Principal
    from custody.errors import Conflict
    with pytest.raises(Conflict, match="set server.base_url"), \
            transaction(services.db) as db:
        services.certs.issue_generated(db, Principal.operator("test"), client_id, "a.acme.test",
                                       ["a.acme.test"])
    services.engine.dispose()
