"""One search box for staff: devices, clients and (for admins) certificates, by name,
address, serial or fingerprint."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from custody.accounts.roles import STAFF
from custody.certs.service import CertificateFilter
from custody.devices.service import DeviceFilter
from custody.web.auth import roles_required
from custody.web.context import db, principal, services

bp = Blueprint("search", __name__)
SHOWN = 20  # of each kind; the lists behind "all matching" page on


@bp.get("/search")
@roles_required(*STAFF)
def results() -> ResponseReturnValue:
    svc, who = services(), principal()
    text = (request.args.get("q") or "").strip()[:200]
    if not text:
        return render_template("search.html", q="", clients=[], devices=[], certificates=[],
                               client_names={})
    devices = svc.devices.find_devices(db(), who, DeviceFilter(search=text), limit=SHOWN).rows
    clients = svc.clients.find_clients(db(), who, text, limit=SHOWN)
    certificates = (svc.certs.find_certificates(db(), who, CertificateFilter(search=text),
                                                limit=SHOWN).rows
                    if who.role == "admin" else [])
    return render_template("search.html", q=text, clients=clients, devices=devices,
                           certificates=certificates, shown=SHOWN, now=svc.clock(),
                           client_names={c.id: c.name for c in svc.clients.list_clients(db(), who)})
