"""The broker API: egress profiles, host keys, credential rotation, sessions and commands."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from custody.accounts.roles import STAFF
from custody.devices.models import AccessSession, ClientPolicy, CommandApproval, EgressProfile
from custody.devices.replay import asciicast, readable
from custody.devices.service import DeviceCredentials
from custody.devices.sessions import egress_profiles
from custody.devices.ssh import fingerprint
from custody.errors import BackendUnavailable, InvalidInput
from custody.web.api import secret_or_none
from custody.web.auth import roles_required
from custody.web.context import db, end_unit_of_work, principal, services
from custody.web.schemas import (
    CommandIn,
    CredentialsIn,
    EgressIn,
    HostKeyIn,
    PolicyIn,
    SessionIn,
    parse_body,
)
from custody.web.serialize import when

bp = Blueprint("broker_api", __name__, url_prefix="/api/v1")
log = logging.getLogger("custody.web.broker")


def session_json(s: AccessSession) -> dict[str, Any]:
    return {"id": s.id, "device_id": s.device_id, "client_id": s.client_id, "user_id": s.user_id,
            "reason": s.reason, "state": s.state, "ttl_seconds": s.ttl_seconds,
            "requested_at": when(s.requested_at), "opened_at": when(s.opened_at),
            "expires_at": when(s.expires_at), "closed_at": when(s.closed_at),
            "close_reason": s.close_reason, "source_ip": s.source_ip,
            "host_key_verified": s.host_key_verified, "privileged": s.privileged}


def approval_json(a: CommandApproval) -> dict[str, Any]:
    return {"id": a.id, "session_id": a.session_id, "client_id": a.client_id,
            "user_id": a.user_id, "command": a.command, "state": a.state,
            "requested_at": when(a.requested_at), "expires_at": when(a.expires_at),
            "decided_by": a.decided_by, "decided_at": when(a.decided_at)}


def egress_json(p: EgressProfile) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "source_ip": p.source_ip}


@bp.get("/egress-profiles")
@roles_required(*STAFF)
def list_egress() -> ResponseReturnValue:
    return jsonify({"items": [egress_json(p) for p in egress_profiles(db())]})


@bp.post("/egress-profiles")
@roles_required("admin")
def create_egress() -> ResponseReturnValue:
    body = parse_body(EgressIn)
    profile = services().devices.create_egress_profile(db(), principal(), body.name, body.source_ip)
    return jsonify(egress_json(profile)), 201


@bp.get("/clients/<int:client_id>/policy")
@roles_required(*STAFF)
def get_policy(client_id: int) -> ResponseReturnValue:
    services().clients.get_client(db(), principal(), client_id)
    policy = db().get(ClientPolicy, client_id)
    return jsonify({"client_id": client_id,
                    "require_approval": bool(policy and policy.require_approval),
                    "approver_role": policy.approver_role if policy else "admin",
                    "deny_commands": policy.deny_commands if policy else [],
                    "cert_names": policy.cert_names if policy else [],
                    "prefix_preserving_ips": bool(policy and policy.prefix_preserving_ips),
                    "alert_names": (policy.alert_names or []) if policy else [],
                    "privileged_role": policy.privileged_role if policy else "technician",
                    "allow_commands": policy.allow_commands if policy else None,
                    "unlisted_action": policy.unlisted_action if policy else "refuse",
                    "rotate_after_privileged": bool(policy and policy.rotate_after_privileged),
                    "rotate_every_days": policy.rotate_every_days if policy else None})


@bp.put("/clients/<int:client_id>/policy")
@roles_required("admin")
def put_policy(client_id: int) -> ResponseReturnValue:
    body = parse_body(PolicyIn)
    services().devices.set_client_policy(db(), principal(), client_id, body.require_approval,
                                         body.approver_role, body.deny_commands, body.cert_names,
                                         body.prefix_preserving_ips, body.alert_names,
                                         privileged_role=body.privileged_role,
                                         allow_commands=body.allow_commands,
                                         unlisted_action=body.unlisted_action,
                                         rotate_after_privileged=body.rotate_after_privileged,
                                         rotate_every_days=body.rotate_every_days)
    return get_policy(client_id)


@bp.post("/devices/<int:device_id>/host-key/scan")
@roles_required("admin")
def scan_host_key(device_id: int) -> ResponseReturnValue:
    svc = services()
    key = svc.devices.scan_host_key(db(), principal(), device_id,
                                    svc.settings.broker.connect_timeout)
    return jsonify({"device_id": device_id, "pending_fingerprint": fingerprint(key),
                    "key_type": key.split()[0],
                    "next": "confirm with POST /api/v1/devices/{id}/host-key {fingerprint}"})


@bp.post("/devices/<int:device_id>/host-key")
@roles_required("admin")
def pin_host_key(device_id: int) -> ResponseReturnValue:
    body = parse_body(HostKeyIn)
    key = services().devices.pin_host_key(db(), principal(), device_id, body.fingerprint,
                                          body.public_key)
    return jsonify({"device_id": device_id, "fingerprint": fingerprint(key),
                    "key_type": key.split()[0]})


@bp.put("/devices/<int:device_id>/credentials")
@roles_required("admin")
def rotate_credentials(device_id: int) -> ResponseReturnValue:
    body = parse_body(CredentialsIn)
    creds = DeviceCredentials(username=body.username, password=secret_or_none(body.password),
                              secret=secret_or_none(body.secret),
                              private_key=secret_or_none(body.private_key))
    version = services().devices.rotate_credentials(db(), principal(), device_id, creds)
    return jsonify({"device_id": device_id, "version": version})


@bp.post("/devices/<int:device_id>/rotate")
@roles_required("admin")
def rotate_now(device_id: int) -> ResponseReturnValue:
    """Have custody set new credentials on the device itself (see custody.devices.rotation)."""
    svc, who = services(), principal()
    svc.devices.get_device(db(), who, device_id)  # the caller may see the device
    end_unit_of_work(ok=True)  # the rotation runs its own units, none held while the device works
    rotated = svc.rotation.rotate(device_id, who.actor, "on demand")
    return jsonify({"device_id": device_id, "version": rotated.version})


@bp.post("/devices/<int:device_id>/sessions")
@roles_required(*STAFF)
def open_session(device_id: int) -> ResponseReturnValue:
    body = parse_body(SessionIn)
    svc = services()
    who = principal()
    session = svc.sessions.request(db(), who, device_id, body.reason, body.ttl_seconds,
                                   body.privileged)
    if session.state == "pending":
        try:
            svc.sessions.notify_approvers(db(), session, who.username)
        except BackendUnavailable as exc:
            log.warning("approval request for session %s not mailed: %s", session.id, exc)
        return jsonify(session_json(session)), 202
    session = svc.sessions.open(db(), session.id)
    return jsonify(session_json(session)), 201


@bp.get("/sessions")
@roles_required(*STAFF)
def list_sessions() -> ResponseReturnValue:
    state = request.args.get("state")
    items = services().sessions.list_sessions(db(), principal(), state)
    return jsonify({"items": [session_json(s) for s in items]})


@bp.get("/sessions/<int:session_id>")
@roles_required(*STAFF)
def get_session(session_id: int) -> ResponseReturnValue:
    return jsonify(session_json(services().sessions.get_for(db(), principal(), session_id)))


@bp.post("/sessions/<int:session_id>/approve")
@roles_required(*STAFF)
def approve_session(session_id: int) -> ResponseReturnValue:
    svc = services()
    svc.sessions.decide(db(), principal(), session_id, approve=True)
    session = svc.sessions.open(db(), session_id)
    return jsonify(session_json(session))


@bp.post("/sessions/<int:session_id>/deny")
@roles_required(*STAFF)
def deny_session(session_id: int) -> ResponseReturnValue:
    session = services().sessions.decide(db(), principal(), session_id, approve=False)
    return jsonify(session_json(session))


@bp.post("/sessions/<int:session_id>/commands")
@roles_required(*STAFF)
def run_command(session_id: int) -> ResponseReturnValue:
    body = parse_body(CommandIn)
    if (body.command is None) == (body.config is None):
        raise InvalidInput("send either command (one line) or config (a list of lines)")
    command: str | list[str] = body.command if body.command is not None else list(body.config or [])
    result = services().sessions.run(db(), principal(), session_id, command, body.approval_id)
    if result.approval is not None:
        return jsonify({"output": None, "approval": approval_json(result.approval),
                        "next": "send the same command again with approval_id once approved"}), 202
    return jsonify({"output": result.output})


@bp.get("/command-approvals")
@roles_required(*STAFF)
def list_command_approvals() -> ResponseReturnValue:
    items = services().sessions.approvals.pending(db(), principal())
    return jsonify({"items": [approval_json(a) for a in items]})


@bp.get("/command-approvals/<int:approval_id>")
@roles_required(*STAFF)
def get_command_approval(approval_id: int) -> ResponseReturnValue:
    return jsonify(approval_json(services().sessions.approvals.get_for(db(), principal(),
                                                                       approval_id)))


@bp.post("/command-approvals/<int:approval_id>/approve")
@roles_required(*STAFF)
def approve_command(approval_id: int) -> ResponseReturnValue:
    return _decide_command(approval_id, True)


@bp.post("/command-approvals/<int:approval_id>/deny")
@roles_required(*STAFF)
def deny_command(approval_id: int) -> ResponseReturnValue:
    return _decide_command(approval_id, False)


def _decide_command(approval_id: int, approve: bool) -> ResponseReturnValue:
    approval = services().sessions.approvals.decide(db(), principal(), approval_id, approve)
    return jsonify(approval_json(approval))


@bp.delete("/sessions/<int:session_id>")
@roles_required(*STAFF)
def close_session(session_id: int) -> ResponseReturnValue:
    services().sessions.close(db(), principal(), session_id)
    return "", 204


@bp.get("/sessions/<int:session_id>/transcript")
@roles_required(*STAFF)
def transcript(session_id: int) -> ResponseReturnValue:
    """The transcript as screen lines with the time each began (audited)."""
    events = services().sessions.read_transcript(db(), principal(), session_id)
    return jsonify({"session_id": session_id, "lines": [
        {"at": when(line.at), "direction": line.direction, "text": line.text}
        for line in readable(events)]})


@bp.get("/sessions/<int:session_id>/transcript.cast")
@roles_required(*STAFF)
def transcript_cast(session_id: int) -> ResponseReturnValue:
    """The transcript as an asciicast v2 recording, for asciinema-player (audited)."""
    events = services().sessions.read_transcript(db(), principal(), session_id,
                                                 action="transcript.download")
    body = asciicast(events, f"custody session {session_id}")
    return Response(body, mimetype="application/x-asciicast", headers={
        "Content-Disposition": f'attachment; filename="custody-session-{session_id}.cast"'})


@bp.get("/clients/<int:client_id>/transcripts/search")
@roles_required(*STAFF)
def search_transcripts(client_id: int) -> ResponseReturnValue:
    """Lines of a client's transcripts that hold ``q`` (one audit event per search)."""
    found = services().sessions.search_transcripts(db(), principal(), client_id,
                                                   request.args.get("q", ""))
    return jsonify({"client_id": client_id, "items": [
        {"session_id": sid, "at": when(line.at), "direction": line.direction,
         "text": line.text} for sid, line in found]})
