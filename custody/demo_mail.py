"""The demo's mail catcher: an SMTP server on loopback that keeps what custody sends as
files, so the demo shows its e-mails (pseudonymized alerts, confirmation links) on an
admin page instead of sending them anywhere. aiosmtpd is imported only here."""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

SHOWN = 50  # the newest messages the page shows


class _Keep:
    """aiosmtpd handler: each message becomes one file, named by when it came."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        path = self._folder / name
        path.write_bytes(envelope.original_content or envelope.content)
        path.chmod(0o600)
        return "250 kept for the demo's mail page"


class MailCatcher:
    """An SMTP server on 127.0.0.1 that keeps every message in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._controller: Any = None

    def start(self) -> int:
        """Listen on a free loopback port; return it."""
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(_Keep(self.folder), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


@dataclass(frozen=True)
class CaughtMessage:
    name: str
    received_at: datetime
    sender: str
    to: str
    subject: str
    text: str


def caught_messages(folder: Path, limit: int = SHOWN) -> list[CaughtMessage]:
    """The newest messages the catcher kept, newest first."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), reverse=True)[:limit]
    return [_read(path) for path in files]


def _read(path: Path) -> CaughtMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    nanoseconds = int(path.name.split("-", 1)[0]) if path.name[0].isdigit() else 0
    text = ""
    if isinstance(message, EmailMessage):
        body = message.get_body(preferencelist=("plain",))
        try:
            text = body.get_content() if body is not None else ""
        except (LookupError, ValueError):  # anyone on this machine may send it anything
            raw = body.get_payload(decode=True) if body is not None else b""
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
    return CaughtMessage(name=path.name,
                         received_at=datetime.fromtimestamp(nanoseconds / 1e9, UTC),
                         sender=str(message.get("From", "")), to=str(message.get("To", "")),
                         subject=str(message.get("Subject", "")), text=text)
