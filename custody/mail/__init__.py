"""Outgoing e-mail: the Mailer protocol and the message it sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """A plain text (and optional simple HTML) e-mail without remote content or tracking."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise BackendUnavailable naming why not."""
        ...
