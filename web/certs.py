"""Certificate API (issue, download once, revoke, renew, import) and the public CRLs."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue

from custody.certs.models import Certificate
from custody.certs.service import CERTIFICATE_STATES, CertificateFilter, Issued
from custody.errors import InvalidInput
from custody.paging import MOST
from custody.web.api import whole_arg
from custody.web.auth import ANYONE, roles_required
from custody.web.context import db, principal, services
from custody.web.openapi import operation, query
from custody.web.schemas import (
    CertificateIn,
    CertificateOut,
    ImportIn,
    IssuedOut,
    Items,
    RenewIn,
    RevokeIn,
    items,
    parse_body,
)

bp = Blueprint("certs_api", __name__)


def cert_fields(c: Certificate) -> dict[str, Any]:
    return {"id": c.id, "client_id": c.client_id, "ca_id": c.ca_id, "serial": c.serial,
            "fingerprint_sha256": c.fingerprint, "subject": c.subject, "sans": c.sans,
            "not_before": c.not_before, "not_after": c.not_after,
            "key_origin": c.key_origin, "issued_at": c.issued_at,
            "handed_over_at": c.handed_over_at, "handed_over_to": c.handed_over_to,
            "handover_method": c.handover_method, "revoked_at": c.revoked_at,
            "revocation_reason": c.revocation_reason, "replaces_id": c.replaces_id,
            "download_pending": c.bundle_path is not None,
            "download_expires_at": c.download_expires_at if c.bundle_path else None,
            "certificate": c.cert_pem}


def cert_out(c: Certificate) -> CertificateOut:
    return CertificateOut(**cert_fields(c))


def issued_out(issued: Issued) -> IssuedOut:
    once = {"passphrase": issued.passphrase,
            "download_url": url_for("certs_api.download", cert_id=issued.certificate.id),
            "note": "the passphrase is shown once; the bundle can be downloaded once"
            } if issued.passphrase else {}
    return IssuedOut(**cert_fields(issued.certificate), chain=issued.chain,
                     dropped_subject_attributes=issued.dropped, **once)


@operation("Issue from the client's CSR, or generate a key handed over once as PKCS#12 "
           "(passphrase shown once)", body=CertificateIn, out=IssuedOut, status=201)
@bp.post("/api/v1/clients/<int:client_id>/certificates")
@roles_required("admin")
def issue(client_id: int) -> ResponseReturnValue:
    body = parse_body(CertificateIn)
    svc = services()
    if (body.csr is None) == (body.generate is None):
        raise InvalidInput("send either csr (preferred) or generate {common_name, sans}",
                           field="csr")
    if body.generate is None:
        issued = svc.certs.issue_from_csr(db(), principal(), client_id, body.csr or "",
                                          body.contact_id)
    else:
        issued = svc.certs.issue_generated(db(), principal(), client_id,
                                           body.generate.common_name, body.generate.sans,
                                           body.contact_id)
    return issued_out(issued).reply(201)


FILTERS = (
    query("state", "valid (live, not expired), expired, or revoked", enum=list(CERTIFICATE_STATES)),
    query("expires_within_days", "only live ones that expire within this many days",
          type="integer", minimum=0, maximum=3650),
    query("q", "in the subject, any case; or a whole serial or SHA-256 fingerprint "
          "(hex, colons allowed)", maxLength=200),
    query("limit", "certificates in a page (default 100)", type="integer", minimum=1,
          maximum=MOST),
    query("cursor", "the next_cursor of the page before", maxLength=1000))


def certificate_filter(client_id: int | None = None) -> CertificateFilter:
    """The filters a ledger list was asked for (the API's and the page's alike)."""
    return CertificateFilter(
        client_id=client_id if client_id is not None else whole_arg("client_id"),
        state=request.args.get("state") or None,
        expires_within_days=whole_arg("expires_within_days"),
        search=(request.args.get("q") or "").strip()[:200] or None)


@operation("Every client's certificate ledger, newest first, a page at a time (public parts "
           "only)", out=Items[CertificateOut],
           query=(query("client_id", "only this client's", type="integer"), *FILTERS))
@bp.get("/api/v1/certificates")
@roles_required("admin")
def list_all() -> ResponseReturnValue:
    page = services().certs.find_certificates(
        db(), principal(), certificate_filter(), limit=whole_arg("limit"),
        cursor=request.args.get("cursor") or None)
    return items([cert_out(c) for c in page.rows], page.next_cursor).reply()


@operation("The client's certificate ledger, newest first, a page at a time (public parts "
           "only)", out=Items[CertificateOut], query=FILTERS)
@bp.get("/api/v1/clients/<int:client_id>/certificates")
@roles_required(*ANYONE)
def list_for_client(client_id: int) -> ResponseReturnValue:
    services().clients.get_client(db(), principal(), client_id)
    page = services().certs.find_certificates(
        db(), principal(), certificate_filter(client_id), limit=whole_arg("limit"),
        cursor=request.args.get("cursor") or None)
    return items([cert_out(c) for c in page.rows], page.next_cursor).reply()


@operation("Track an existing certificate (PEM, DER, PKCS#12 without key)", body=ImportIn,
           out=CertificateOut, status=201)
@bp.post("/api/v1/clients/<int:client_id>/certificates/import")
@roles_required("admin")
def import_cert(client_id: int) -> ResponseReturnValue:
    body = parse_body(ImportIn)
    if (body.pem is None) == (body.der_base64 is None):
        raise InvalidInput("send either pem or der_base64 (DER or PKCS#12 without password)")
    if body.pem is not None:
        data = body.pem.encode()
    else:
        try:
            data = base64.b64decode(body.der_base64 or "", validate=True)
        except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
            raise InvalidInput("der_base64: not base64", field="der_base64") from None
    row = services().certs.import_certificate(db(), principal(), client_id, data)
    return cert_out(row).reply(201)


@operation("A ledger entry", out=CertificateOut)
@bp.get("/api/v1/certificates/<int:cert_id>")
@roles_required(*ANYONE)
def get_cert(cert_id: int) -> ResponseReturnValue:
    return cert_out(services().certs.get(db(), principal(), cert_id)).reply()


@operation("Certificate and chain, PEM", media="application/x-pem-file")
@bp.get("/api/v1/certificates/<int:cert_id>/pem")
@roles_required(*ANYONE)
def cert_pem(cert_id: int) -> ResponseReturnValue:
    row, pem = services().certs.pem_with_chain(db(), principal(), cert_id)
    return Response(pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": f'attachment; filename="cert-{row.serial}.pem"'})


@operation("The generated PKCS#12, once (a POST: link prefetchers cannot burn it); the key "
           "is destroyed when the hand-over commits", media="application/x-pkcs12")
@bp.post("/api/v1/certificates/<int:cert_id>/bundle")
@roles_required("admin", "client")
def download(cert_id: int) -> ResponseReturnValue:
    bundle = services().certs.download_bundle(db(), principal(), cert_id)
    return Response(bundle, mimetype="application/x-pkcs12", headers={
        "Content-Disposition": f'attachment; filename="certificate-{cert_id}.p12"',
        "Cache-Control": "no-store"})


@operation("Revoke with an RFC 5280 reason; the CRL is re-signed", body=RevokeIn,
           out=CertificateOut)
@bp.post("/api/v1/certificates/<int:cert_id>/revoke")
@roles_required("admin")
def revoke(cert_id: int) -> ResponseReturnValue:
    body = parse_body(RevokeIn)
    row = services().certs.revoke(db(), principal(), cert_id, body.reason)
    return cert_out(row).reply()


@operation("Issue a successor for the same subject from a new CSR", body=RenewIn,
           out=IssuedOut, status=201)
@bp.post("/api/v1/certificates/<int:cert_id>/renew")
@roles_required("admin")
def renew(cert_id: int) -> ResponseReturnValue:
    body = parse_body(RenewIn)
    issued = services().certs.renew(db(), principal(), cert_id, body.csr)
    return issued_out(issued).reply(201)


# Relying parties may cache what is public; everything else is sent no-store.
PUBLIC = {"Cache-Control": "public, max-age=300"}


@bp.get("/ca/<int:ca_id>.crt")
def ca_certificate(ca_id: int) -> ResponseReturnValue:
    """The CA's certificate, DER: where issued certificates' AIA caIssuers URL points."""
    return Response(services().certs.ca_der(db(), ca_id), mimetype="application/pkix-cert",
                    headers=PUBLIC)


@bp.get("/crl/<int:ca_id>.crl")
def crl_der(ca_id: int) -> ResponseReturnValue:
    der = services().certs.crl(db(), ca_id)
    return Response(der, mimetype="application/pkix-crl", headers=PUBLIC)


@bp.get("/crl/<int:ca_id>.pem")
def crl_pem(ca_id: int) -> ResponseReturnValue:
    der = services().certs.crl(db(), ca_id)
    crl = x509.load_der_x509_crl(der)
    return Response(crl.public_bytes(serialization.Encoding.PEM), mimetype="application/x-pem-file",
                    headers=PUBLIC)
