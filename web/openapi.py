"""The OpenAPI 3.1 document of /api/v1; a test keeps it in step with the registered routes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

import custody
from custody.accounts.roles import STAFF as STAFF_ROLES
from custody.alerts.kinds import SourceKind
from custody.devices.approvals import ApprovalState
from custody.devices.models import SessionState
from custody.purge.plan import PurgeKind

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
STAFF = "admin, technician"
DATE = {"type": ["string", "null"], "description": "ISO 8601 date or date-time (UTC if no zone)"}


def _op(summary: str, status: int = 200, body: str | None = None, out: str | None = None,
        roles: str = "admin, technician, client") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {roles}. Client users only ever see their own client.",
        "responses": {
            str(status): {"description": "success"} | (
                {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{out}"}}}}
                if out else {}),
            "400": {"description": "invalid input", "content": {"application/json": {"schema": ERROR}}},
            "401": {"description": "not authenticated", "content": {"application/json": {"schema": ERROR}}},
            "403": {"description": "role not allowed", "content": {"application/json": {"schema": ERROR}}},
            "404": {"description": "not found (or another tenant's)",
                    "content": {"application/json": {"schema": ERROR}}},
        },
    }
    if body:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    return op


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
    "Me": {"type": "object", "properties": {"id": {"type": "integer"}, "username": {"type": "string"},
           "role": {"type": "string"}, "client_id": {"type": ["integer", "null"]}}},
    "TotpStart": {"type": "object", "properties": {"provisioning_uri": {"type": "string"},
                                                    "enabled": {"type": "boolean"}}},
    "TotpConfirm": {"type": "object", "additionalProperties": False, "required": ["code"],
                    "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}},
    "ClientIn": {"type": "object", "additionalProperties": False, "required": ["name"],
                 "properties": {"name": {"type": "string", "maxLength": 200}}},
    "Client": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "closed"]},
        "created_at": {"type": "string"}, "closed_at": DATE}},
    "ContactIn": {"type": "object", "additionalProperties": False,
                  "required": ["kind", "value", "purposes"], "properties": {
                      "kind": {"type": "string", "enum": ["email", "phone"]},
                      "value": {"type": "string"},
                      "purposes": {"type": "array", "items": {
                          "type": "string", "enum": ["alerts", "billing", "technical"]}}}},
    "Contact": {"type": "object", "properties": {
        "id": {"type": "integer"}, "client_id": {"type": "integer"}, "kind": {"type": "string"},
        "value": {"type": "string"}, "purposes": {"type": "array", "items": {"type": "string"}},
        "verified": {"type": "boolean"}, "verification_sent": {"type": "boolean"}}},
    "EngagementIn": {"type": "object", "additionalProperties": False, "required": ["title"],
                     "properties": {"title": {"type": "string"}, "paid_at": DATE,
                                    "warranty_until": DATE}},
    "EngagementPatch": {"type": "object", "additionalProperties": False, "minProperties": 1,
                        "properties": {"title": {"type": "string"}, "paid_at": DATE,
                                       "warranty_until": DATE, "closed_at": DATE}},
    "Engagement": {"type": "object", "properties": {
        "id": {"type": "integer"}, "client_id": {"type": "integer"}, "title": {"type": "string"},
        "paid_at": DATE, "warranty_until": DATE, "closed_at": DATE,
        "device_ids": {"type": "array", "items": {"type": "integer"}}}},
    "DeviceIn": {"type": "object", "additionalProperties": False,
                 "required": ["client_id", "name", "host", "device_type", "credentials"],
                 "properties": {
                     "client_id": {"type": "integer"}, "name": {"type": "string"},
                     "host": {"type": "string"}, "port": {"type": "integer", "default": 22},
                     "device_type": {"type": "string", "description": "netmiko device type, SSH only"},
                     "egress_ip": {"type": ["string", "null"]},
                     "engagement_ids": {"type": "array", "items": {"type": "integer"}},
                     "credentials": {"type": "object", "writeOnly": True,
                                     "additionalProperties": False, "required": ["username"],
                                     "properties": {"username": {"type": "string"},
                                                    "password": {"type": "string"},
                                                    "secret": {"type": "string"},
                                                    "private_key": {"type": "string"}}}}},
    "Device": {"type": "object", "description": "host, port and egress_ip are shown to staff only",
               "properties": {
                   "id": {"type": "integer"}, "client_id": {"type": "integer"},
                   "name": {"type": "string"}, "device_type": {"type": "string"},
                   "access_state": {"type": "string", "enum": ["active", "purged"]},
                   "host": {"type": "string"}, "port": {"type": "integer"},
                   "egress_ip": {"type": ["string", "null"]}}},
    "List": {"type": "object", "properties": {"items": {"type": "array"}}},
    "Schedule": {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["kind", "target", "due_at", "state", "reason"],
        "properties": {"kind": {"type": "string", "enum": [str(k) for k in PurgeKind]},
                       "target": {"type": "string"}, "due_at": DATE,
                       "state": {"type": "string", "enum": [
                           "due", "scheduled", "waiting_for_payment", "on_hold",
                           "no_engagement"]},
                       "reason": {"type": "string"}}}}}},
    "PurgeRunIn": {"type": "object", "additionalProperties": False,
                   "properties": {"dry_run": {"type": "boolean", "default": False}}},
    "PurgeRun": {"type": "object", "properties": {
        "run_id": {"type": ["integer", "null"]}, "dry_run": {"type": "boolean"},
        "receipts": {"type": "array", "items": {"type": "object"}}}},
    "HoldIn": {"type": "object", "additionalProperties": False,
               "required": ["target_kind", "target_id", "reason", "until"], "properties": {
                   "target_kind": {"type": "string", "enum": ["device", "client"]},
                   "target_id": {"type": "integer"}, "reason": {"type": "string"},
                   "until": {"type": "string"}}},
    "Hold": {"type": "object", "properties": {"id": {"type": "integer"},
                                              "until": {"type": "string"}}},
    "CertificateIn": {"type": "object", "additionalProperties": False, "properties": {
        "csr": {"type": "string", "description": "PEM"},
        "generate": {"type": "object", "properties": {"common_name": {"type": "string"},
                                                      "sans": {"type": "array"}}},
        "contact_id": {"type": "integer"}}},
    "CertificateOut": {"type": "object", "properties": {
        "id": {"type": "integer"}, "serial": {"type": "string"},
        "fingerprint_sha256": {"type": "string"}, "certificate": {"type": "string"}}},
    "Issued": {"type": "object", "required": ["id", "serial", "certificate", "chain"],
               "properties": {"id": {"type": "integer"}, "serial": {"type": "string"},
                              "certificate": {"type": "string"},
                              "chain": {"type": "array", "items": {"type": "string"}},
                              "passphrase": {"type": "string"}}},
    "RenewIn": {"type": "object", "additionalProperties": False, "required": ["csr"],
                "properties": {"csr": {"type": "string"}}},
    "RevokeIn": {"type": "object", "additionalProperties": False, "required": ["reason"],
                 "properties": {"reason": {"type": "string", "enum": [
                     "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
                     "superseded", "cessationOfOperation", "certificateHold",
                     "privilegeWithdrawn", "aACompromise"]}}},
    "ImportIn": {"type": "object", "additionalProperties": False, "properties": {
        "pem": {"type": "string"}, "der_base64": {"type": "string"}}},
    "ReidentifyIn": {"type": "object", "additionalProperties": False,
                     "required": ["client_id", "token"], "properties": {
                         "client_id": {"type": "integer"}, "token": {"type": "string"}}},
    "AlertSourceIn": {"type": "object", "additionalProperties": False,
                      "required": ["name", "kind"], "properties": {
                          "name": {"type": "string"},
                          "kind": {"type": "string",
                                   "enum": [str(k) for k in SourceKind]},
                          "client_id": {"type": ["integer", "null"]}}},
    "SourceAssignIn": {"type": "object", "additionalProperties": False, "required": ["client_id"],
                       "properties": {"client_id": {"type": ["integer", "null"]}}},
    "Export": {"type": "object", "properties": {"format": {"type": "string"}}},
    "ContactPatch": {"type": "object", "additionalProperties": False, "properties": {
        "value": {"type": "string"}, "purposes": {"type": "array", "items": {"type": "string"}}}},
    "RestrictionIn": {"type": "object", "additionalProperties": False, "required": ["restricted"],
                      "properties": {"restricted": {"type": "boolean"}}},
    "EgressIn": {"type": "object", "additionalProperties": False, "required": ["name", "source_ip"],
                 "properties": {"name": {"type": "string"}, "source_ip": {"type": "string"}}},
    "Egress": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                "source_ip": {"type": "string"}}},
    "Policy": {"type": "object", "properties": {
        "require_approval": {"type": "boolean"},
        "approver_role": {"type": "string", "enum": [str(r) for r in STAFF_ROLES]},
        "deny_commands": {"type": "array", "items": {"type": "string"}},
        "cert_names": {"type": "array", "items": {"type": "string"}, "description":
                       "DNS suffixes, IP addresses and e-mail domains its certificates may name"},
        "prefix_preserving_ips": {"type": "boolean", "description":
                                  "alert addresses as Crypto-PAn pseudonyms (subnets kept)"},
        "alert_names": {"type": ["array", "null"], "maxItems": 500,
                        "items": {"type": "string", "minLength": 3, "maxLength": 200},
                        "description": "sites, people and brands of the client's that alerts "
                                       "must never show (replaced like its device names)"},
        "privileged_role": {"type": "string", "enum": ["technician", "admin", "none"],
                            "description": "who may open privileged (enable/sudo) sessions"},
        "allow_commands": {"type": ["array", "null"], "maxItems": 200,
                           "items": {"type": "string", "minLength": 1, "maxLength": 200},
                           "description": "allow-list mode: only these command patterns run"},
        "unlisted_action": {"type": "string", "enum": ["refuse", "confirm"], "description":
                            "what happens to a line the allow-list does not name"},
        "rotate_after_privileged": {"type": "boolean"},
        "rotate_every_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}}},
    "HostKeyScan": {"type": "object", "properties": {"pending_fingerprint": {"type": "string"},
                                                     "key_type": {"type": "string"}}},
    "HostKeyIn": {"type": "object", "additionalProperties": False, "properties": {
        "fingerprint": {"type": "string", "description": "SHA256:... of the scanned key"},
        "public_key": {"type": "string", "description": "'ssh-ed25519 AAAA...'"}}},
    "HostKey": {"type": "object", "properties": {"fingerprint": {"type": "string"},
                                                 "key_type": {"type": "string"}}},
    "Credentials": {"type": "object", "writeOnly": True, "additionalProperties": False,
                    "required": ["username"], "properties": {
                        "username": {"type": "string"}, "password": {"type": "string"},
                        "secret": {"type": "string"}, "private_key": {"type": "string"}}},
    "SessionIn": {"type": "object", "additionalProperties": False, "required": ["reason"],
                  "properties": {"reason": {"type": "string", "description": "ticket reference"},
                                 "ttl_seconds": {"type": "integer"},
                                 "privileged": {"type": "boolean", "description":
                                                "elevated by custody at login (enable/sudo)"}}},
    "AccessSession": {"type": "object", "properties": {
        "id": {"type": "integer"}, "device_id": {"type": "integer"},
        "state": {"type": "string", "enum": [str(s) for s in SessionState]},
        "expires_at": DATE, "source_ip": {"type": ["string", "null"]},
        "host_key_verified": {"type": "boolean"}, "close_reason": {"type": ["string", "null"]},
        "privileged": {"type": "boolean"}}},
    "CommandIn": {"type": "object", "additionalProperties": False, "properties": {
        "command": {"type": "string", "maxLength": 4096},
        "config": {"type": "array", "items": {"type": "string"}},
        "approval_id": {"type": ["integer", "null"], "description":
                        "send an approved line again with its request's id"}}},
    "CommandApproval": {"type": "object", "properties": {
        "id": {"type": "integer"}, "session_id": {"type": "integer"},
        "command": {"type": "string"},
        "state": {"type": "string", "enum": [str(s) for s in ApprovalState]},
        "requested_at": DATE, "expires_at": DATE}},
    "CommandOut": {"type": "object", "properties": {"output": {"type": "string"}}},
    "Transcript": {"type": "object", "properties": {"lines": {"type": "array", "items": {
        "type": "object", "properties": {"at": {"type": "string"}, "direction": {
            "type": "string", "enum": ["in", "out", "note"]}, "text": {"type": "string"}}}}}},
}


def document() -> dict[str, Any]:
    """Build the OpenAPI document."""
    paths: dict[str, Any] = {
        "/api/v1/me": {"get": _op("Who am I", out="Me")},
        "/api/v1/me/totp": {"post": _op(
            "Start TOTP enrolment; returns an otpauth:// provisioning URI", 201, out="TotpStart")},
        "/api/v1/me/totp/confirm": {"post": _op(
            "Activate TOTP with a current code; logins then need a code", 200, "TotpConfirm")},
        "/api/v1/clients": {
            "get": _op("List clients visible to the caller", out="List"),
            "post": _op("Create a client", 201, "ClientIn", "Client", roles="admin"),
        },
        "/api/v1/clients/{client_id}": {
            "parameters": [_id("client_id")], "get": _op("Read a client", out="Client")},
        "/api/v1/clients/{client_id}/contacts": {
            "parameters": [_id("client_id")],
            "get": _op("List a client's contacts", out="List"),
            "post": _op("Add a contact; a verification e-mail goes out (double opt-in)", 201,
                        "ContactIn", "Contact", roles="admin"),
        },
        "/api/v1/contacts/{contact_id}/verification": {
            "parameters": [_id("contact_id")],
            "post": _op("Send the verification e-mail again", 202, roles="admin")},
        "/api/v1/clients/{client_id}/engagements": {
            "parameters": [_id("client_id")],
            "get": _op("List a client's engagements", out="List"),
            "post": _op("Create an engagement", 201, "EngagementIn", "Engagement", roles="admin"),
        },
        "/api/v1/engagements/{engagement_id}": {
            "parameters": [_id("engagement_id")],
            "get": _op("Read an engagement", out="Engagement"),
            "patch": _op("Change paid, warranty or closed dates", 200, "EngagementPatch",
                         "Engagement", roles="admin"),
        },
        "/api/v1/devices": {
            "get": _op("List devices (filter with ?client_id=)", out="List"),
            "post": _op("Enrol a device; credentials are write-only", 201, "DeviceIn", "Device",
                        roles="admin"),
        },
        "/api/v1/devices/{device_id}": {
            "parameters": [_id("device_id")], "get": _op("Read a device", out="Device")},
        "/api/v1/egress-profiles": {
            "get": _op("List egress profiles (fixed source addresses)", out="List", roles=STAFF),
            "post": _op("Define an egress profile", 201, "EgressIn", "Egress", roles="admin"),
        },
        "/api/v1/clients/{client_id}/policy": {
            "parameters": [_id("client_id")],
            "get": _op("Read a client's access policy", out="Policy", roles=STAFF),
            "put": _op("Set approval and extra denied commands", 200, "Policy", "Policy",
                       roles="admin"),
        },
        "/api/v1/devices/{device_id}/host-key/scan": {
            "parameters": [_id("device_id")],
            "post": _op("Fetch the device's host key from its egress address (pending)",
                        out="HostKeyScan", roles="admin")},
        "/api/v1/devices/{device_id}/host-key": {
            "parameters": [_id("device_id")],
            "post": _op("Pin a host key: confirm the scanned fingerprint or give the public key",
                        200, "HostKeyIn", "HostKey", roles="admin")},
        "/api/v1/devices/{device_id}/credentials": {
            "parameters": [_id("device_id")],
            "put": _op("Rotate credentials (write-only); older versions are destroyed", 200,
                       "Credentials", roles="admin")},
        "/api/v1/devices/{device_id}/sessions": {
            "parameters": [_id("device_id")],
            "post": _op("Open a session (202 when it waits for approval)", 201, "SessionIn",
                        "AccessSession", roles=STAFF)},
        "/api/v1/sessions": {"get": _op("List sessions (?state=)", out="List", roles=STAFF)},
        "/api/v1/sessions/{session_id}": {
            "parameters": [_id("session_id")],
            "get": _op("Read a session", out="AccessSession", roles=STAFF),
            "delete": _op("Close a session (admins may terminate any)", 204, roles=STAFF),
        },
        "/api/v1/sessions/{session_id}/approve": {
            "parameters": [_id("session_id")],
            "post": _op("Approve a pending session; it opens", out="AccessSession", roles=STAFF)},
        "/api/v1/sessions/{session_id}/deny": {
            "parameters": [_id("session_id")],
            "post": _op("Deny a pending session", out="AccessSession", roles=STAFF)},
        "/api/v1/sessions/{session_id}/commands": {
            "parameters": [_id("session_id")],
            "post": _op("Run one command, or a configuration set, under the command policy "
                        "(202 with an approval request when an allow-list holds it)",
                        200, "CommandIn", "CommandOut", roles=STAFF)},
        "/api/v1/devices/{device_id}/rotate": {
            "parameters": [_id("device_id")],
            "post": _op("Have custody set, prove and store new credentials on the device",
                        roles="admin")},
        "/api/v1/sessions/{session_id}/transcript.cast": {
            "parameters": [_id("session_id")],
            "get": {**_op("Download a transcript as an asciicast v2 recording (audited)",
                          roles="admin, technicians with the transcript permission"),
                    "responses": {**_op("")["responses"], "200": {
                        "description": "asciicast v2",
                        "content": {"application/x-asciicast": {"schema": {"type": "string"}}}}}}},
        "/api/v1/clients/{client_id}/transcripts/search": {
            "parameters": [_id("client_id"), {"name": "q", "in": "query", "required": True,
                                               "schema": {"type": "string", "minLength": 2,
                                                          "maxLength": 200}}],
            "get": _op("Lines of a client's transcripts holding q (decrypted while searching; "
                       "one audit event per search)", out="List",
                       roles="admin, technicians with the transcript permission")},
        "/api/v1/command-approvals": {"get": _op(
            "Command lines waiting for the caller's approval", out="List", roles=STAFF)},
        "/api/v1/command-approvals/{approval_id}": {
            "parameters": [_id("approval_id")],
            "get": _op("Read a command approval request", out="CommandApproval", roles=STAFF)},
        "/api/v1/command-approvals/{approval_id}/approve": {
            "parameters": [_id("approval_id")],
            "post": _op("Approve a held command line (not one's own)", out="CommandApproval",
                        roles=STAFF)},
        "/api/v1/command-approvals/{approval_id}/deny": {
            "parameters": [_id("approval_id")],
            "post": _op("Refuse a held command line", out="CommandApproval", roles=STAFF)},
        "/api/v1/sessions/{session_id}/transcript": {
            "parameters": [_id("session_id")],
            "get": _op("Read a transcript (transcript permission; audited)", out="Transcript",
                       roles="admin, technicians with the transcript permission")},
        "/api/v1/purge/schedule": {"get": _op(
            "What will be destroyed, when and why", out="Schedule", roles="admin")},
        "/api/v1/purge/run": {"post": _op(
            "Destroy what is due (or list it with dry_run); one receipt per target", 200,
            "PurgeRunIn", "PurgeRun", roles="admin")},
        "/api/v1/purge/receipts": {"get": _op("The latest purge receipts", out="List",
                                              roles="admin")},
        "/api/v1/holds": {
            "get": _op("Active holds", out="List", roles="admin"),
            "post": _op("Hold a device's or client's data (reason and end date)", 201, "HoldIn",
                        "Hold", roles="admin"),
        },
        "/api/v1/holds/{hold_id}": {"parameters": [_id("hold_id")],
                                    "delete": _op("Release a hold", 204, roles="admin")},
        "/api/v1/clients/{client_id}/export": {
            "parameters": [_id("client_id")],
            "get": _op("Everything held about the client, as JSON (no secrets)", out="Export")},
        "/api/v1/contacts/{contact_id}": {
            "parameters": [_id("contact_id")],
            "patch": _op("Correct a contact (re-verified) or change its consented purposes; "
                         "the client's decision (an admin acting for it is audited as such)",
                         200, "ContactPatch", "Contact", roles="admin, client")},
        "/api/v1/clients/{client_id}/restriction": {
            "parameters": [_id("client_id")],
            "post": _op("Restrict or object to processing (stops alert mail)", 200,
                        "RestrictionIn", "Client", roles="admin, client")},
        "/api/v1/clients/{client_id}/erasure-request": {
            "parameters": [_id("client_id")],
            "post": _op("Ask for erasure; an admin confirms it", 202, out="Client",
                        roles="admin, client")},
        "/api/v1/clients/{client_id}/erasure/confirm": {
            "parameters": [_id("client_id")],
            "post": _op("Confirm erasure: the client purge becomes due at once", out="Client",
                        roles="admin")},
        "/api/v1/clients/{client_id}/close": {
            "parameters": [_id("client_id")],
            "post": _op("Close the client; its purge follows payment and warranty", out="Client",
                        roles="admin")},
        "/api/v1/clients/{client_id}/certificates": {
            "parameters": [_id("client_id")],
            "get": _op("The client's certificate ledger (public parts only)", out="List"),
            "post": _op("Issue from the client's CSR, or generate a key handed over once as "
                        "PKCS#12 (passphrase shown once)", 201, "CertificateIn", "Issued",
                        roles="admin")},
        "/api/v1/clients/{client_id}/certificates/import": {
            "parameters": [_id("client_id")],
            "post": _op("Track an existing certificate (PEM, DER, PKCS#12 without key)", 201,
                        "ImportIn", "CertificateOut", roles="admin")},
        "/api/v1/certificates/{cert_id}": {
            "parameters": [_id("cert_id")],
            "get": _op("A ledger entry", out="CertificateOut")},
        "/api/v1/certificates/{cert_id}/pem": {
            "parameters": [_id("cert_id")],
            "get": _op("Certificate and chain, PEM")},
        "/api/v1/certificates/{cert_id}/bundle": {
            "parameters": [_id("cert_id")],
            "get": _op("The generated PKCS#12, once; then the key is destroyed",
                       roles="admin, client")},
        "/api/v1/certificates/{cert_id}/revoke": {
            "parameters": [_id("cert_id")],
            "post": _op("Revoke with an RFC 5280 reason; the CRL is re-signed", 200, "RevokeIn",
                        "CertificateOut", roles="admin")},
        "/api/v1/certificates/{cert_id}/renew": {
            "parameters": [_id("cert_id")],
            "post": _op("Issue a successor for the same subject from a new CSR", 201, "RenewIn",
                        "Issued", roles="admin")},
        "/api/v1/alert-sources": {
            "get": _op("Alert sources", out="List", roles="admin"),
            "post": _op("Register a source; its bearer token is shown once", 201,
                        "AlertSourceIn", roles="admin")},
        "/api/v1/alert-sources/{source_id}": {
            "parameters": [_id("source_id")],
            "patch": _op("Bind a source to a client (or unbind it with null); audited", 200,
                         "SourceAssignIn", roles="admin")},
        "/api/v1/alerts/held": {"get": _op(
            "Alerts that map to no client or to several: pseudonymized under the provider's "
            "key, never mailed, kept alerts.held_retention_days; each view is audited",
            out="List", roles="admin")},
        "/api/v1/alerts/reidentify": {"post": _op(
            "What a pseudonym stands for in the client's inventory (current period; audited)",
            200, "ReidentifyIn", roles=STAFF)},
        "/api/v1/clients/{client_id}/notifications": {
            "parameters": [_id("client_id")],
            "get": _op("The client's alert history (pseudonymized)", out="List")},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "custody API", "version": custody.__version__},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from `custody token create USERNAME`"}}},
    }


@bp.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())
