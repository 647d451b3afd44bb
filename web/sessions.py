"""Server-side web sessions: the one cookie holds a random id, the data stays in the database.

Only a signed-in session gets a row. Before login (the login form's CSRF token, a flashed
message) the little there is rides in the cookie itself, signed: an anonymous visitor,
or a flood of them, stores nothing here.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete
from werkzeug.datastructures import CallbackDict

from custody.accounts.models import WebSession
from custody.db import transaction
from custody.services import Services

COOKIE = "custody_session"
ANONYMOUS = "a."  # a signed cookie, not a stored session's id


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None, sid: str | None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.old_sid: str | None = None
        self.modified = False

    def regenerate(self) -> None:
        """Give the session a fresh id (on login), so a planted id is worthless."""
        self.old_sid, self.sid = self.sid, None
        self.modified = True

    @property
    def id_hash(self) -> str | None:
        """The stored row's key (to keep this session when ending the user's others)."""
        return _digest(self.sid) if self.sid else None


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class DbSessionInterface(SessionInterface):
    def __init__(self, services: Services) -> None:
        self._services = services
        self._lifetime = timedelta(hours=services.settings.security.session_hours)

    def _signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._services.signing_key, salt="custody-anonymous-session")

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(COOKIE)
        if sid and sid.startswith(ANONYMOUS) and len(sid) < 4096:
            try:
                data = self._signer().loads(sid[len(ANONYMOUS):],
                                            max_age=int(self._lifetime.total_seconds()))
            except BadSignature:
                return ServerSession(None, None)
            if not isinstance(data, dict):
                return ServerSession(None, None)
            data.pop("uid", None)  # only a stored session signs anyone in
            return ServerSession(data, None)
        if not sid or len(sid) > 100:
            return ServerSession(None, None)
        with transaction(self._services.db) as db:
            row = db.get(WebSession, _digest(sid))
            if row is None or row.expires_at <= self._services.clock():
                return ServerSession(None, None)
            return ServerSession(dict(row.data), sid)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        session = server_session(session)
        secure = self._services.settings.tls_enabled
        if session.old_sid:
            self._delete(session.old_sid)
        if not session or "uid" not in session:
            if session.sid:  # signed out
                self._delete(session.sid)
            if session:
                if session.modified or session.sid:
                    response.set_cookie(COOKIE, ANONYMOUS + self._signer().dumps(dict(session)),
                                        path="/", secure=secure, httponly=True, samesite="Lax")
            elif COOKIE in request.cookies:
                response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True,
                                       samesite="Lax")
            return
        if not session.modified and session.sid:
            return
        sid = session.sid or secrets.token_urlsafe(32)
        expires = self._services.clock() + self._lifetime
        with transaction(self._services.db) as db:
            row = db.get(WebSession, _digest(sid))
            if row is None and session.sid is not None:
                # Ended meanwhile (logged out everywhere, a password change, a disabled
                # user): a request still in flight must not bring it back.
                response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True,
                                       samesite="Lax")
                return
            if row is None:
                row = WebSession(id_hash=_digest(sid), data={}, expires_at=expires)
                db.add(row)
            row.data = dict(session)
            row.user_id = session.get("uid")
            row.expires_at = expires
        response.set_cookie(COOKIE, sid, max_age=int(self._lifetime.total_seconds()), path="/",
                            secure=secure, httponly=True, samesite="Lax")

    def _delete(self, sid: str) -> None:
        with transaction(self._services.db) as db:
            db.execute(delete(WebSession).where(WebSession.id_hash == _digest(sid)))


def server_session(session: SessionMixin) -> ServerSession:
    """The request's session as custody's own (the app installs DbSessionInterface)."""
    if not isinstance(session, ServerSession):
        raise TypeError("the web app runs without custody's session interface")
    return session
