"""The broker API: egress profiles, host keys, credential rotation, sessions and commands."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from custody.accounts.roles import STAFF
from custody.devices.models import (
    AccessSession,
    CommandApproval,
    EgressProfile,
    SessionState,
)
from custody.devices.replay import asciicast, readable
from custody.devices.service import DeviceCredentials
from custody.devices.sessions import SessionFilter
from custody.devices.ssh import fingerprint
from custody.errors import InvalidInput
from custody.paging import MOST
from custody.web.api import secret_or_none, whole_arg
from custody.web.auth import roles_required
from custody.web.context import db, end_unit_of_work, principal, services
from custody.web.openapi import operation, query
from custody.web.schemas import (
    CommandApprovalOut,
    CommandIn,
    CommandOut,
    CredentialsIn,
    CredentialsVersionOut,
    EgressIn,
    EgressOut,
    EgressPatchIn,
    HostKeyIn,
    HostKeyOut,
    HostKeyScanOut,
    Items,
    PolicyIn,
    PolicyOut,
    SessionIn,
    SessionOut,
    TranscriptLineOut,
    TranscriptMatchOut,
    TranscriptOut,
    TranscriptSearchOut,
    items,
    parse_body,
)

bp = Blueprint("broker_api", __name__, url_prefix="/api/v1")
log = logging.getLogger("custody.web.broker")


def session_out(s: AccessSession) -> SessionOut:
    return SessionOut(id=s.id, device_id=s.device_id, client_id=s.client_id, user_id=s.user_id,
                      reason=s.reason, state=s.state, ttl_seconds=s.ttl_seconds,
                      requested_at=s.requested_at, opened_at=s.opened_at,
                      expires_at=s.expires_at, closed_at=s.closed_at,
                      close_reason=s.close_reason, source_ip=s.source_ip,
                      host_key_verified=s.host_key_verified, privileged=s.privileged,
                      node=s.node)


def approval_out(a: CommandApproval) -> CommandApprovalOut:
    return CommandApprovalOut(id=a.id, session_id=a.session_id, client_id=a.client_id,
                              user_id=a.user_id, command=a.command, state=a.state,
                              requested_at=a.requested_at, expires_at=a.expires_at,
                              decided_by=a.decided_by, decided_at=a.decided_at)


def egress_out(p: EgressProfile) -> EgressOut:
    return EgressOut(id=p.id, name=p.name, source_ip=p.source_ip, node=p.node)


@operation("List egress profiles (fixed source addresses)", out=Items[EgressOut])
@bp.get("/egress-profiles")
@roles_required(*STAFF)
def list_egress() -> ResponseReturnValue:
    return items([egress_out(p) for p in services().devices.egress_profiles(db(), principal())]
                 ).reply()


@operation("Define an egress profile", body=EgressIn, out=EgressOut, status=201)
@bp.post("/egress-profiles")
@roles_required("admin")
def create_egress() -> ResponseReturnValue:
    body = parse_body(EgressIn)
    profile = services().devices.create_egress_profile(db(), principal(), body.name,
                                                       body.source_ip, body.node)
    return egress_out(profile).reply(201)


@operation("Change an egress profile no device uses (its address must be one this node "
           "can bind, when this node is to use it)", body=EgressPatchIn, out=EgressOut)
@bp.patch("/egress-profiles/<int:profile_id>")
@roles_required("admin")
def update_egress(profile_id: int) -> ResponseReturnValue:
    body = parse_body(EgressPatchIn)
    current = services().devices.egress_profile(db(), principal(), profile_id)
    given = body.model_fields_set
    for name in given & {"name", "source_ip"}:
        if getattr(body, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    profile = services().devices.update_egress_profile(
        db(), principal(), profile_id,
        body.name if "name" in given and body.name else current.name,
        body.source_ip if "source_ip" in given and body.source_ip else current.source_ip,
        body.node if "node" in given else current.node)
    return egress_out(profile).reply()


@operation("Delete an egress profile no device uses", status=204)
@bp.delete("/egress-profiles/<int:profile_id>")
@roles_required("admin")
def delete_egress(profile_id: int) -> ResponseReturnValue:
    services().devices.delete_egress_profile(db(), principal(), profile_id)
    return "", 204


@operation("Read a client's access policy", out=PolicyOut)
@bp.get("/clients/<int:client_id>/policy")
@roles_required(*STAFF)
def get_policy(client_id: int) -> ResponseReturnValue:
    policy = services().devices.client_policy(db(), principal(), client_id)
    return PolicyOut(
        client_id=client_id, require_approval=bool(policy and policy.require_approval),
        approver_role=policy.approver_role if policy else "admin",
        deny_commands=policy.deny_commands if policy else [],
        cert_names=policy.cert_names if policy else [],
        prefix_preserving_ips=bool(policy and policy.prefix_preserving_ips),
        alert_names=(policy.alert_names or []) if policy else [],
        privileged_role=policy.privileged_role if policy else "technician",
        allow_commands=policy.allow_commands if policy else None,
        unlisted_action=policy.unlisted_action if policy else "refuse",
        rotate_after_privileged=bool(policy and policy.rotate_after_privileged),
        rotate_every_days=policy.rotate_every_days if policy else None).reply()


@operation("Set approval, command lists, certificate names, alert names and rotation",
           body=PolicyIn, out=PolicyOut)
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


@operation("Fetch the device's host key from its egress address (pending)",
           out=HostKeyScanOut)
@bp.post("/devices/<int:device_id>/host-key/scan")
@roles_required("admin")
def scan_host_key(device_id: int) -> ResponseReturnValue:
    svc = services()
    key = svc.devices.scan_host_key(db(), principal(), device_id,
                                    svc.settings.broker.connect_timeout)
    return HostKeyScanOut(device_id=device_id, pending_fingerprint=fingerprint(key),
                          key_type=key.split()[0],
                          next="confirm with POST /api/v1/devices/{id}/host-key {fingerprint}"
                          ).reply()


@operation("Pin a host key: confirm the scanned fingerprint or give the public key",
           body=HostKeyIn, out=HostKeyOut)
@bp.post("/devices/<int:device_id>/host-key")
@roles_required("admin")
def pin_host_key(device_id: int) -> ResponseReturnValue:
    body = parse_body(HostKeyIn)
    key = services().devices.pin_host_key(db(), principal(), device_id, body.fingerprint,
                                          body.public_key)
    return HostKeyOut(device_id=device_id, fingerprint=fingerprint(key),
                      key_type=key.split()[0]).reply()


@operation("Replace the stored credentials (write-only); older versions are destroyed",
           body=CredentialsIn, out=CredentialsVersionOut)
@bp.put("/devices/<int:device_id>/credentials")
@roles_required("admin")
def rotate_credentials(device_id: int) -> ResponseReturnValue:
    body = parse_body(CredentialsIn)
    creds = DeviceCredentials(username=body.username, password=secret_or_none(body.password),
                              secret=secret_or_none(body.secret),
                              private_key=secret_or_none(body.private_key))
    version = services().devices.rotate_credentials(db(), principal(), device_id, creds)
    return CredentialsVersionOut(device_id=device_id, version=version).reply()


@operation("Have custody set, prove and store new credentials on the device",
           out=CredentialsVersionOut)
@bp.post("/devices/<int:device_id>/rotate")
@roles_required("admin")
def rotate_now(device_id: int) -> ResponseReturnValue:
    """Have custody set new credentials on the device itself (see custody.devices.rotation)."""
    svc, who = services(), principal()
    svc.devices.get_device(db(), who, device_id)  # the caller may see the device
    end_unit_of_work(ok=True)  # the rotation runs its own units, none held while the device works
    rotated = svc.rotation.rotate(device_id, who.actor, "on demand")
    return CredentialsVersionOut(device_id=device_id, version=rotated.version).reply()


@operation("Open a session (202 when it waits for approval)", body=SessionIn, out=SessionOut,
           status=201, also=(202,))
@bp.post("/devices/<int:device_id>/sessions")
@roles_required(*STAFF)
def open_session(device_id: int) -> ResponseReturnValue:
    body = parse_body(SessionIn)
    svc = services()
    who = principal()
    session = svc.sessions.request(db(), who, device_id, body.reason, body.ttl_seconds,
                                   body.privileged)
    if session.state == "pending":
        svc.sessions.notify_approvers(db(), session, who.username)  # failures are logged
        return session_out(session).reply(202)
    return session_out(svc.sessions.open(db(), session.id)).reply(201)


@operation("List sessions, newest first, a page at a time", out=Items[SessionOut], query=(
    query("state", "only sessions in this state", enum=list(SessionState)),
    query("client_id", "only this client's", type="integer"),
    query("device_id", "only this device's", type="integer"),
    query("limit", "sessions in a page (default 100)", type="integer", minimum=1,
          maximum=MOST),
    query("cursor", "the next_cursor of the page before", maxLength=1000)))
@bp.get("/sessions")
@roles_required(*STAFF)
def list_sessions() -> ResponseReturnValue:
    page = services().sessions.find_sessions(
        db(), principal(), session_filter(), limit=whole_arg("limit"),
        cursor=request.args.get("cursor") or None)
    return items([session_out(s) for s in page.rows], page.next_cursor).reply()


def session_filter() -> SessionFilter:
    """The filters a sessions list was asked for (the API's and the page's alike)."""
    state = request.args.get("state") or None
    if state is not None and state not in list(SessionState):
        raise InvalidInput(f"state must be one of {', '.join(SessionState)}", field="state")
    return SessionFilter(state=state, client_id=whole_arg("client_id"),
                         device_id=whole_arg("device_id"))


@operation("Read a session", out=SessionOut)
@bp.get("/sessions/<int:session_id>")
@roles_required(*STAFF)
def get_session(session_id: int) -> ResponseReturnValue:
    return session_out(services().sessions.get_for(db(), principal(), session_id)).reply()


@operation("Approve a pending session; it opens", out=SessionOut)
@bp.post("/sessions/<int:session_id>/approve")
@roles_required(*STAFF)
def approve_session(session_id: int) -> ResponseReturnValue:
    svc = services()
    svc.sessions.decide(db(), principal(), session_id, approve=True)
    return session_out(svc.sessions.open(db(), session_id)).reply()


@operation("Deny a pending session", out=SessionOut)
@bp.post("/sessions/<int:session_id>/deny")
@roles_required(*STAFF)
def deny_session(session_id: int) -> ResponseReturnValue:
    session = services().sessions.decide(db(), principal(), session_id, approve=False)
    return session_out(session).reply()


@operation("Run one command, or a configuration set, under the command policy "
           "(202 with an approval request when an allow-list holds it)",
           body=CommandIn, out=CommandOut, also=(202,))
@bp.post("/sessions/<int:session_id>/commands")
@roles_required(*STAFF)
def run_command(session_id: int) -> ResponseReturnValue:
    body = parse_body(CommandIn)
    if (body.command is None) == (body.config is None):
        raise InvalidInput("send either command (one line) or config (a list of lines)")
    command: str | list[str] = body.command if body.command is not None else list(body.config or [])
    result = services().sessions.run(db(), principal(), session_id, command, body.approval_id)
    if result.approval is not None:
        return CommandOut(output=None, approval=approval_out(result.approval),
                          next="send the same command again with approval_id once approved"
                          ).reply(202)
    return CommandOut(output=result.output).reply()


@operation("Command lines waiting for the caller's approval", out=Items[CommandApprovalOut])
@bp.get("/command-approvals")
@roles_required(*STAFF)
def list_command_approvals() -> ResponseReturnValue:
    rows = services().sessions.approvals.pending(db(), principal())
    return items([approval_out(a) for a in rows]).reply()


@operation("Read a command approval request", out=CommandApprovalOut)
@bp.get("/command-approvals/<int:approval_id>")
@roles_required(*STAFF)
def get_command_approval(approval_id: int) -> ResponseReturnValue:
    return approval_out(services().sessions.approvals.get_for(db(), principal(), approval_id)
                        ).reply()


@operation("Approve a held command line (not one's own)", out=CommandApprovalOut)
@bp.post("/command-approvals/<int:approval_id>/approve")
@roles_required(*STAFF)
def approve_command(approval_id: int) -> ResponseReturnValue:
    return _decide_command(approval_id, True)


@operation("Refuse a held command line", out=CommandApprovalOut)
@bp.post("/command-approvals/<int:approval_id>/deny")
@roles_required(*STAFF)
def deny_command(approval_id: int) -> ResponseReturnValue:
    return _decide_command(approval_id, False)


def _decide_command(approval_id: int, approve: bool) -> ResponseReturnValue:
    approval = services().sessions.approvals.decide(db(), principal(), approval_id, approve)
    return approval_out(approval).reply()


@operation("Close a session (admins may terminate any)", status=204)
@bp.delete("/sessions/<int:session_id>")
@roles_required(*STAFF)
def close_session(session_id: int) -> ResponseReturnValue:
    services().sessions.close(db(), principal(), session_id)
    return "", 204


@operation("Read a transcript (transcript permission; audited)", out=TranscriptOut)
@bp.get("/sessions/<int:session_id>/transcript")
@roles_required(*STAFF)
def transcript(session_id: int) -> ResponseReturnValue:
    """The transcript as screen lines with the time each began (audited)."""
    events = services().sessions.read_transcript(db(), principal(), session_id)
    return TranscriptOut(session_id=session_id, lines=[
        TranscriptLineOut(at=line.at, direction=line.direction, text=line.text)
        for line in readable(events)]).reply()


@operation("Download a transcript as an asciicast v2 recording (audited)",
           media="application/x-asciicast")
@bp.get("/sessions/<int:session_id>/transcript.cast")
@roles_required(*STAFF)
def transcript_cast(session_id: int) -> ResponseReturnValue:
    """The transcript as an asciicast v2 recording, for asciinema-player (audited)."""
    events = services().sessions.read_transcript(db(), principal(), session_id,
                                                 action="transcript.download")
    body = asciicast(events, f"custody session {session_id}")
    return Response(body, mimetype="application/x-asciicast", headers={
        "Content-Disposition": f'attachment; filename="custody-session-{session_id}.cast"'})


@operation("Lines of a client's transcripts holding q (decrypted while searching; one "
           "audit event per search)", out=TranscriptSearchOut,
           query=(query("q", "the text to find", required=True, minLength=2, maxLength=200),))
@bp.get("/clients/<int:client_id>/transcripts/search")
@roles_required(*STAFF)
def search_transcripts(client_id: int) -> ResponseReturnValue:
    """Lines of a client's transcripts that hold ``q`` (one audit event per search)."""
    found = services().sessions.search_transcripts(db(), principal(), client_id,
                                                   request.args.get("q", ""))
    return TranscriptSearchOut(client_id=client_id, items=[
        TranscriptMatchOut(session_id=sid, at=line.at, direction=line.direction, text=line.text)
        for sid, line in found]).reply()
