"""Certificate pages for admins: a client's allowed names, issuing from a pasted CSR or a
generated key, importing a certificate to track, and renewing. The ledger is the
certificates page of admin_inventory."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from custody.certs.service import Issued
from custody.errors import CustodyError
from custody.web.auth import roles_required
from custody.web.context import db, principal, services
from custody.web.forms import place_error, problems

bp = Blueprint("certpages", __name__, url_prefix="/admin/certificates")


class NamesForm(FlaskForm):
    client_id = SelectField("Client", coerce=int)
    names = TextAreaField("Allowed names (one per line: a domain allows itself and every name "
                          "under it; an IP address; a network such as 192.0.2.0/24)",
                          validators=[Length(max=20_000)])


class IssueForm(FlaskForm):
    client_id = SelectField("Client", coerce=int)
    source = RadioField("Key", choices=[("csr", "the client's own CSR (preferred)"),
                                        ("generate", "generate a key for the client")],
                        default="csr")
    csr = TextAreaField("CSR (PEM)", validators=[Optional(), Length(max=65536)])
    common_name = StringField("Common name (generated key)",
                              validators=[Optional(), Length(max=200)])
    sans = StringField("Other names (generated key; separated by spaces or commas)",
                       validators=[Optional(), Length(max=5000)])


class ImportForm(FlaskForm):
    client_id = SelectField("Client", coerce=int)
    pem = TextAreaField("Certificate (PEM)", validators=[DataRequired(), Length(max=262144)])


class RenewForm(FlaskForm):
    csr = TextAreaField("New CSR (PEM)", validators=[DataRequired(), Length(max=65536)])


def _clients() -> list[tuple[int, str]]:
    return [(c.id, c.name) for c in services().clients.list_clients(db(), principal())]


def _issued(issued: Issued) -> ResponseReturnValue:
    return render_template("admin_cert_issued.html", issued=issued,
                           cert=issued.certificate)


@bp.route("/issue", methods=["GET", "POST"])
@roles_required("admin")
def issue() -> ResponseReturnValue:
    svc, who = services(), principal()
    names, issuing, importing = (NamesForm(prefix="names"), IssueForm(prefix="issue"),
                                 ImportForm(prefix="import"))
    forms: dict[str, FlaskForm] = {"names": names, "issue": issuing, "import": importing}
    choices = _clients()
    for form in (names, issuing, importing):
        form.client_id.choices = choices
    errors: dict[str, str] = {}  # by form: what is wrong with what was sent
    notices: dict[str, str] = {}  # by form: what was done
    which = request.form.get("form", "") if request.method == "POST" else ""
    if which:
        form = forms.get(which)
        try:
            if form is None:
                errors["form"] = "unknown form"
            elif not form.validate_on_submit():
                errors[which] = problems(form)
            elif form is names:
                svc.devices.set_cert_names(db(), who, names.client_id.data,
                                           (names.names.data or "").split())
                notices["names"] = "Saved."
            elif form is issuing:
                if issuing.source.data == "generate":
                    sans = (issuing.sans.data or "").replace(",", " ").split()
                    return _issued(svc.certs.issue_generated(
                        db(), who, issuing.client_id.data, issuing.common_name.data or "", sans))
                return _issued(svc.certs.issue_from_csr(db(), who, issuing.client_id.data,
                                                        issuing.csr.data or ""))
            else:
                row = svc.certs.import_certificate(db(), who, importing.client_id.data,
                                                   (importing.pem.data or "").encode())
                notices["import"] = f"Tracking {row.subject} (expires {row.not_after:%Y-%m-%d})."
        except CustodyError as exc:
            errors[which] = place_error(forms[which], exc) or ""
    if which != "names" and choices:
        names.client_id.data = names.client_id.data or choices[0][0]
        policy = svc.devices.client_policy(db(), who, names.client_id.data)
        names.names.data = "\n".join(policy.cert_names if policy else [])
    return render_template("admin_cert_issue.html", names=names, issuing=issuing,
                           importing=importing, errors=errors, notices=notices), (
        400 if errors else 200)


@bp.route("/<int:cert_id>/renew", methods=["GET", "POST"])
@roles_required("admin")
def renew(cert_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    cert = svc.certs.get(db(), who, cert_id)
    form = RenewForm()
    error = None
    if form.validate_on_submit():
        try:
            return _issued(svc.certs.renew(db(), who, cert_id, form.csr.data or ""))
        except CustodyError as exc:
            error = place_error(form, exc)
    elif request.method == "POST":
        error = problems(form)
    return render_template("admin_cert_renew.html", cert=cert, form=form, error=error), (
        400 if error or form.errors else 200)
