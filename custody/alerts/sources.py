"""Alert sources: who may post alerts, with which token, for which client."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal, token_digest
from custody.alerts.formats import SOURCE_KINDS
from custody.alerts.models import AlertSource
from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clock import Clock
from custody.errors import Conflict, InvalidInput, NotFound, Unauthorized
from custody.statements import DriverStatement
from custody.tenancy import require_role

TOKEN_PREFIX = "cas_"
RECOGNIZED_MOST = 1024  # sources a worker remembers having authenticated
# Built once: every post is authenticated with it.
_BY_NAME = DriverStatement(select(AlertSource.id, AlertSource.kind, AlertSource.token_hash,
                                  AlertSource.client_id).where(AlertSource.name == bindparam("name")))


@dataclass(frozen=True)
class Poster:
    """The source a post authenticated as: what ingest needs of it (the token's hash
    included, which ingest checks again in the unit that writes the post)."""

    id: int
    kind: str
    client_id: int | None
    token_hash: str


class AlertSources:
    """Register, authenticate and bind the monitoring systems that post alerts."""

    def __init__(self, audit: AuditLog, clock: Clock) -> None:
        self._audit = audit
        self._clock = clock
        self._recognized: dict[tuple[str, str], Poster] = {}

    def create_source(self, db: Session, who: Principal, name: str, kind: str,
                      client_id: int | None) -> tuple[AlertSource, str]:
        """Register a source; its token is returned once and stored only as a hash."""
        require_role(who, "admin")
        name = name.strip()
        if not name or len(name) > 100 or "/" in name:
            raise InvalidInput("name must be 1-100 characters, without '/'", field="name")
        if kind not in SOURCE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(SOURCE_KINDS)}", field="kind")
        if client_id is not None and db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        if db.scalar(select(AlertSource.id).where(AlertSource.name == name)):
            raise Conflict(f"an alert source named {name!r} exists already")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        source = AlertSource(name=name, kind=kind, token_hash=token_digest(token),
                             client_id=client_id, created_at=self._clock())
        db.add(source)
        db.flush()
        self._audit.record(db, who.actor, "alerts.source_create", f"alert_source:{source.id}",
                           kind=kind, client_id=client_id)
        return source, token

    def authenticate(self, db: Session, name: str, kind: str, token: str | None) -> Poster:
        """The source named ``name``, if ``token`` is its token and it posts ``kind``."""
        row = _BY_NAME.first(db, {"name": name})
        if row is None or token is None or \
                not secrets.compare_digest(row.token_hash, token_digest(token)):
            if token is not None:
                self._recognized.pop((name, token_digest(token)), None)
            raise Unauthorized("unknown alert source or wrong token")
        if row.kind != kind:
            raise InvalidInput(f"source {name!r} posts {row.kind} payloads, not {kind}")
        poster = Poster(row.id, row.kind, row.client_id, row.token_hash)
        if len(self._recognized) >= RECOGNIZED_MOST:
            self._recognized.clear()
        self._recognized[(name, row.token_hash)] = poster
        return poster

    def recognized(self, name: str, kind: str, token: str | None) -> Poster | None:
        """The source named ``name``, if this worker authenticated it with ``token`` before,
        without asking the database; else None (then ``authenticate``).

        Only for ingest, which reads the source and its token again just before it
        writes the post: a source given a new token or removed since has nothing of
        its posts written, and one bound to another client meanwhile has its alerts go
        to that one. A post refused as bad input is checked with ``authenticate`` before
        it is answered, so a token that no longer stands gets 401, not 400. An unknown
        token is never taken for known: its body is not even read."""
        if token is None:
            return None
        poster = self._recognized.get((name, token_digest(token)))
        return poster if poster is not None and poster.kind == kind else None

    def forget(self, token_hash: str) -> None:
        """Stop recognizing the source behind this token without asking the database
        (it was found removed or given a new token)."""
        for key in list(self._recognized):  # a copy: other threads may add meanwhile
            if key[1] == token_hash:
                self._recognized.pop(key, None)

    def list_sources(self, db: Session, who: Principal) -> Sequence[AlertSource]:
        require_role(who, "admin")
        return db.scalars(select(AlertSource).order_by(AlertSource.name)).all()

    def assign_source(self, db: Session, who: Principal, source_id: int,
                      client_id: int | None) -> AlertSource:
        """Bind a source to one client (its later alerts go to that client), or unbind it."""
        require_role(who, "admin")
        source = db.get(AlertSource, source_id)
        if source is None:
            raise NotFound(f"alert source {source_id} does not exist")
        if client_id is not None and db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        source.client_id = client_id
        self._audit.record(db, who.actor, "alerts.source_assign", f"alert_source:{source.id}",
                           client_id=client_id)
        return source
