"""What every page form shares: problems put next to the fields they concern."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from flask import flash, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from custody.db import ID_MAX
from custody.errors import CustodyError, InvalidInput
from custody.web.context import end_unit_of_work

T = TypeVar("T")


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


def place_error(form: FlaskForm, exc: CustodyError) -> str | None:
    """Put a service's complaint next to the form field it names (``InvalidInput.fields``);
    return what names no field of this form, for the line above the form."""
    loose = []
    for problem in exc.fields if isinstance(exc, InvalidInput) else ():
        name = next((n for n in (problem.field, problem.field.rpartition(".")[2])
                     if n in form._fields and n != "csrf_token"), None)
        if name is None:
            loose.append(problem.message)
        else:
            form[name].errors = [*form[name].errors, problem.message]
    if isinstance(exc, InvalidInput) and exc.fields:
        return "; ".join(loose) or None
    return str(exc)


def problems(form: FlaskForm) -> str:
    """Every failed check of the form in one line, for the message above it."""
    return "; ".join(f"{form[name].label.text}: {', '.join(msgs)}"
                     for name, msgs in form.errors.items())


def confirm_by_post(verify: Callable[[], object], done: str) -> ResponseReturnValue:
    """A link mailed for confirmation: GET asks (a mail scanner opening the link confirms
    nothing), POST confirms through ``verify`` and says ``done``."""
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("verified.html", ok=None, form=form, message=None)
    try:
        verify()
    except CustodyError as exc:
        return render_template("verified.html", ok=False, message=str(exc)), 400
    return render_template("verified.html", ok=True, message=done)


def page_links(endpoint: str, next_cursor: str | None) -> dict[str, str | None]:
    """The links of a paged list: to the next page (the same filters, from its cursor)
    and, past the first, back to the first."""
    asked = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return {"next_url": url_for(endpoint, **asked, cursor=next_cursor) if next_cursor else None,
            "first_url": url_for(endpoint, **asked) if request.args.get("cursor") else None}


def attempt(action: Callable[[], T], refused: str) -> T | None:
    """Do what a button asks; on a refusal, roll back what it wrote, say
    "``refused``: why" on the next page and return None. A page that redirects after a
    refusal answers 302, which would commit half of the work."""
    try:
        return action()
    except CustodyError as exc:
        end_unit_of_work(ok=False)
        flash(f"{refused}: {exc}")
        return None


def whole_number(raw: str, name: str) -> int:
    """A whole number typed or passed as text, or InvalidInput naming it ("²" is a digit
    to Python, not to int)."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > ID_MAX:
        raise InvalidInput(f"{name} must be a whole number up to {ID_MAX}", field=name)
    return int(raw)


def day_start(value: str, name: str, next_day: bool = False) -> datetime | None:
    """The start of a day given as YYYY-MM-DD (of the next, for an end), or None."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}: a day as YYYY-MM-DD", field=name) from None
    start = datetime.combine(day, time.min, tzinfo=UTC)
    if next_day and day == date.max:
        raise InvalidInput(f"{name}: a day before {date.max}", field=name)
    return start + timedelta(days=1) if next_day else start
