"""The demo's mail page: what custody sent, as the demo's mail catcher kept it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template
from flask.typing import ResponseReturnValue

from custody.demo_mail import SHOWN, caught_messages
from custody.web.auth import roles_required
from custody.web.context import services

bp = Blueprint("demo", __name__, url_prefix="/admin/demo")


@bp.get("/mail")
@roles_required("admin")
def mail() -> ResponseReturnValue:
    folder = services().settings.demo.mail_folder
    if folder is None:
        abort(404)  # only `custody demo` catches mail
    return render_template("demo_mail.html", messages=caught_messages(folder), shown=SHOWN)


def _demo_mode() -> dict[str, Any]:
    return {"demo_mail": services().settings.demo.mail_folder is not None}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_demo_mode)
