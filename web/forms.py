"""What every page form shares: problems put next to the fields they concern."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


_NAMED = re.compile(r"(\w+)\b")


def place_error(form: FlaskForm, message: str) -> str | None:
    """Show a service's message by the field it starts with ("egress_ip: ...", "reason must
    be ..."); return it when it names no field of the form, for the form's own line."""
    named = _NAMED.match(message)
    name = named.group(1) if named else ""
    if name in form._fields and name != "csrf_token":
        form[name].errors = [*form[name].errors, message]
        return None
    return message


def problems(form: FlaskForm) -> str:
    """Every failed check of the form in one line, for the message above it."""
    return "; ".join(f"{form[name].label.text}: {', '.join(msgs)}"
                     for name, msgs in form.errors.items())
