"""The browser terminal: a websocket relaying keystrokes and output to a broker terminal."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, request
from flask_sock import Sock

from custody.devices.broker import Terminal, is_size
from custody.errors import CustodyError, Forbidden, Unauthorized
from custody.web.context import db, end_unit_of_work, services

sock = Sock()


def _same_origin() -> bool:
    """Browsers send cookies with cross-site websocket handshakes: insist on our own origin."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@sock.route("/tech/sessions/<int:session_id>/terminal/ws")
def terminal_ws(ws: Any, session_id: int) -> None:
    who = g.principal
    try:
        terminal = services().sessions.terminal(db(), who, session_id)
    except CustodyError as exc:
        end_unit_of_work(ok=False)
        ws.send(json.dumps({"end": str(exc)}))
        ws.close()
        return
    end_unit_of_work(ok=True)  # the relay below lasts as long as the session: no transaction

    def keystrokes() -> None:
        try:
            while (data := ws.receive()) is not None:
                _relay(terminal, data if isinstance(data, str) else data.decode(errors="replace"))
        except Exception:  # noqa: BLE001 - the browser went away; end the relay
            pass
        finally:
            terminal.close()

    threading.Thread(target=keystrokes, daemon=True).start()
    try:
        while (event := terminal.next()) is not None:
            ws.send(json.dumps(event))
            if "end" in event:
                break
    except Exception:  # noqa: BLE001, S110 - the socket closed under us
        pass
    finally:
        terminal.close()


def _relay(terminal: Terminal, frame: str) -> None:
    """One frame from the browser: {"keys": text} or {"resize": [columns, rows]} (what
    terminal.js sends); any other frame is keystrokes as typed."""
    message: object = None
    if frame.startswith("{"):
        try:
            message = json.loads(frame)
        except ValueError:
            message = None
    if isinstance(message, dict) and isinstance(message.get("keys"), str):
        terminal.write(message["keys"])
    elif isinstance(message, dict) and "resize" in message:
        if is_size(size := message["resize"]):
            terminal.resize(size[0], size[1])
    else:
        terminal.write(frame)


def _check_handshake() -> None:
    """Refuse before the upgrade: strangers, clients and other sites.

    (Plain HTTP never gets here: the route only matches websocket requests.)"""
    if request.endpoint != "__flask_sock.terminal_ws":
        return
    who = g.get("principal")
    if who is None:
        raise Unauthorized("log in first")
    if not who.is_staff:
        raise Forbidden("terminals are for technicians and admins")
    if not _same_origin():
        raise Forbidden("cross-origin terminal connections are refused")


def init_app(app: Flask) -> None:
    sock.init_app(app)
    app.before_request(_check_handshake)
