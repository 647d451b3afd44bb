"""Transcript pages: readable lines with replay and download, search, and live watching."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue

from custody.accounts.roles import STAFF
from custody.db import transaction
from custody.devices.models import AccessSession
from custody.devices.replay import clean, readable
from custody.errors import CustodyError
from custody.web.auth import roles_required
from custody.web.context import db, principal, services

bp = Blueprint("transcripts", __name__, url_prefix="/tech")
WATCH_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0


@bp.get("/sessions/<int:session_id>/transcript")
@roles_required(*STAFF)
def transcript_page(session_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    session = svc.sessions.get_for(db(), who, session_id)
    events = svc.sessions.read_transcript(db(), who, session_id)
    device = svc.devices.get_device(db(), who, session.device_id)
    return render_template("tech_transcript.html", session=session, device=device,
                           lines=readable(events))


@bp.get("/transcripts")
@roles_required(*STAFF)
def search_page() -> ResponseReturnValue:
    svc, who = services(), principal()
    clients = svc.clients.list_clients(db(), who)
    client_id = request.args.get("client_id", type=int)
    query = (request.args.get("q") or "").strip()
    found, error = [], None
    if client_id and query:
        try:
            found = svc.sessions.search_transcripts(db(), who, client_id, query)
        except CustodyError as exc:
            error = str(exc)
    return render_template("tech_transcript_search.html", clients=clients, client_id=client_id,
                           q=query, found=found, error=error), 400 if error else 200


@bp.get("/sessions/<int:session_id>/watch")
@roles_required("admin")
def watch(session_id: int) -> ResponseReturnValue:
    """Server-sent events: the session's transcript as it grows, until the session ends.

    One audit event per viewing; the stream polls the database itself, and stops when
    the session is no longer open, or its watcher is disabled."""
    svc, who = services(), principal()
    session = svc.sessions.watch(db(), who, session_id)
    session_key = session.id

    def events() -> Iterator[str]:
        after, quiet_since = 0, time.monotonic()
        while True:
            with transaction(svc.db) as tx:
                current = tx.get(AccessSession, session_key)
                state = current.state if current else "gone"
                new = svc.sessions.events_since(tx, current, after) if current else []
                # The stream is one long request: a watcher disabled meanwhile stops here.
                if svc.accounts.active_user(tx, who.user_id) is None:
                    new, state = [], "watcher disabled"
            for event in new:
                after = event.seq
                yield "data: " + json.dumps({"at": event.at.isoformat(),
                                             "direction": event.direction,
                                             "text": clean(event.text) if event.direction
                                             not in ("out", "res") else event.text}) + "\n\n"
                quiet_since = time.monotonic()
            if state not in ("open", "approved", "pending"):
                yield "event: end\ndata: " + json.dumps({"state": state}) + "\n\n"
                return
            if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                yield ": still watching\n\n"
                quiet_since = time.monotonic()
            time.sleep(WATCH_POLL_SECONDS)

    return Response(events(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
