"""Deliver mail over SMTP with STARTTLS, implicit TLS or (on loopback) plain."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from custody.config import MailSettings
from custody.errors import BackendUnavailable
from custody.mail import Message


class SmtpMailer:
    """Mailer over smtplib, configured by the ``[mail]`` section."""

    def __init__(self, settings: MailSettings) -> None:
        self._s = settings

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self._s.ca_file) if self._s.ca_file else None)
        return ctx

    def send(self, message: Message) -> None:
        msg = EmailMessage()
        msg["From"] = self._s.sender
        msg["To"] = _one_line(message.to)
        msg["Subject"] = _one_line(message.subject)
        if "Message-ID" not in message.headers:
            msg["Message-ID"] = make_msgid(domain=self._s.sender.rpartition("@")[2] or "localhost")
        for name, value in message.headers.items():
            msg[_one_line(name)] = _one_line(value)
        msg.set_content(message.text)
        if message.html is not None:
            msg.add_alternative(message.html, subtype="html")
        s = self._s
        try:
            smtp: smtplib.SMTP
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                        context=self._tls_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                if s.username and s.password is not None:
                    smtp.login(s.username, s.password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise BackendUnavailable(
                f"mail server {s.host}:{s.port} did not accept the message ({type(exc).__name__})"
            ) from None


def _one_line(value: str) -> str:
    """A header value with no line breaks or control characters (no header injection)."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())
