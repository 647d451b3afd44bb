"""Session transcripts: redacted, then encrypted with a per-client key from the SecretStore.

The key lives at ``client-<id>/keys/transcripts``: shredding the client's tenant
makes every stored transcript chunk unreadable, wherever copies of it remain.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from custody.clock import Clock
from custody.devices.models import TranscriptChunk
from custody.errors import BackendUnavailable, SecretNotFound
from custody.secrets import SecretStore, client_path

REDACTED = "[redacted]"


class Redactor:
    """Replace every known secret value (and each line of a multi-line key) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        for value in secrets:
            if len(value) >= 4:
                values.add(value)
                values.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 8)
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    direction: str  # Direction
    text: str
    seq: int = 0


class TranscriptStore:
    """Append and read encrypted transcript chunks."""

    def __init__(self, secrets: SecretStore, clock: Clock) -> None:
        self._secrets = secrets
        self._clock = clock
        self._keys: dict[int, AESGCM] = {}
        self._lock = threading.Lock()

    def _key(self, client_id: int, create: bool) -> AESGCM | None:
        with self._lock:
            if client_id in self._keys:
                return self._keys[client_id]
            path = client_path(client_id, "keys", "transcripts")
            if not self._secrets.versions(path):
                if not create:
                    return None
                self._secrets.put(path, {"key": base64.b64encode(os.urandom(32)).decode()})
            try:
                # Version 1 always: two processes racing to create it still agree on one key.
                raw = self._secrets.get(path, version=1)["key"].reveal()
            except SecretNotFound:
                return None
            self._keys[client_id] = AESGCM(base64.b64decode(raw))
            return self._keys[client_id]

    def forget_client(self, client_id: int) -> None:
        with self._lock:
            self._keys.pop(client_id, None)

    def append(self, db: Session, session_id: int, client_id: int, direction: str,
               text: str) -> None:
        """Store one chunk; ``text`` must already be redacted."""
        key = self._key(client_id, create=True)
        if key is None:  # create=True makes one; None means the store lost it under us
            raise BackendUnavailable(f"no transcript key for client {client_id} could be made")
        seq = (db.scalar(select(func.max(TranscriptChunk.seq)).where(
            TranscriptChunk.session_id == session_id)) or 0) + 1
        nonce = os.urandom(12)
        blob = key.encrypt(nonce, text.encode(), f"{session_id}:{seq}:{direction}".encode())
        db.add(TranscriptChunk(session_id=session_id, seq=seq, at=self._clock(),
                               direction=direction, nonce=nonce, ciphertext=blob))

    def read(self, db: Session, session_id: int, client_id: int, after: int = 0
             ) -> Sequence[TranscriptLine]:
        """The session's events in order (those after sequence number ``after``)."""
        key = self._key(client_id, create=False)
        chunks = db.scalars(select(TranscriptChunk).where(TranscriptChunk.session_id == session_id,
                                                          TranscriptChunk.seq > after)
                            .order_by(TranscriptChunk.seq)).all()
        lines = []
        for c in chunks:
            if key is None:
                text = "[unreadable: the client's transcript key was destroyed]"
            else:
                try:
                    text = key.decrypt(c.nonce, c.ciphertext,
                                       f"{session_id}:{c.seq}:{c.direction}".encode()).decode()
                except InvalidTag:
                    text = "[unreadable: integrity check failed]"
            lines.append(TranscriptLine(c.at, c.direction, text, c.seq))
        return lines
