"""A step between a destructive form and what it does: a page that says in words what
will happen and re-posts the same form with the person's consent. No JavaScript."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

CONFIRMED = "confirmed"


def unconfirmed(action: str, consequence: str, cancel: str) -> ResponseReturnValue | None:
    """None once the posted form carries the confirmation; else the page that asks for it.

    ``action`` names the button ("Revoke certificate 7"), ``consequence`` says what
    happens and what cannot be undone; ``cancel`` is where "No" leads. The page re-posts
    this form's fields, its CSRF token with them, to the same address."""
    if request.form.get(CONFIRMED) == "yes":
        return None
    fields = [(name, value) for name, value in request.form.items(multi=True)
              if name != CONFIRMED]
    return render_template("confirm.html", action=action, consequence=consequence,
                           fields=fields, target=request.path, cancel=cancel)
