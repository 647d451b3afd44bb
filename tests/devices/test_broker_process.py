"""The broker behind its Unix socket: what `custody serve`'s web workers talk to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from custody.devices.broker import LocalBroker
from custody.devices.broker_net import BrokerServer, RemoteBroker
from custody.devices.policy import CommandPolicy
from custody.devices.sessions import SessionService
from custody.errors import Conflict, HostKeyMismatch
from tests.lab import Lab
from tests.peers import SshDevice


@pytest.fixture
def remote(lab: Lab) -> Iterator[Lab]:
    """The lab, with its session service talking to a broker server over a Unix socket."""
    svc = lab.services
    local = svc.broker
    assert isinstance(local, LocalBroker)
    server = BrokerServer(local, svc.settings.path(svc.settings.broker.socket)).start()
    client = RemoteBroker(server.path)
    sessions = SessionService(client, svc.transcripts, svc.audit, svc.clock,
                              svc.settings.broker, svc.mailer, svc.sessions.approvals)
    lab.client.application.extensions["custody"] = replace(svc, broker=client, sessions=sessions)
    yield lab
    server.stop()


def test_session_through_the_socket(remote: Lab, sshd: SshDevice) -> None:
    device_id = remote.enrol(sshd.port)
    session = remote.open(device_id)
    status, body = remote.run(session, "echo via-broker; echo $SSH_CLIENT")
    assert status == 200 and str(body["output"]).split()[:2] == ["via-broker", "127.0.0.2"]
    assert remote.services.broker.is_live(session)  # the connection lives in the broker
    assert remote.client.delete(f"/api/v1/sessions/{session}", headers=remote.tech).status_code == 204
    assert not remote.services.broker.is_live(session)


def test_errors_cross_the_socket_with_their_type(remote: Lab, fresh_sshd: SshDevice) -> None:
    device_id = remote.enrol(fresh_sshd.port)
    fresh_sshd.new_host_key()
    resp = remote.client.post(f"/api/v1/devices/{device_id}/sessions", headers=remote.tech,
                              json={"reason": "TICKET-1", "ttl_seconds": 300})
    assert resp.status_code == 502 and resp.json["error"]["code"] == "host_key_mismatch"
    client = RemoteBroker(remote.services.settings.path(remote.services.settings.broker.socket))
    with pytest.raises(Conflict, match="no live connection"):
        client.run(12345, "id")
    with pytest.raises(HostKeyMismatch):
        client.open(1)


def test_terminal_through_the_socket(remote: Lab, sshd: SshDevice) -> None:
    device_id = remote.enrol(sshd.port)
    session = remote.open(device_id)
    client = RemoteBroker(remote.services.settings.path(remote.services.settings.broker.socket))
    terminal = client.attach(session, CommandPolicy.for_device("linux"), "user:test")
    try:
        terminal.write("echo term-$((40+2))\r")
        seen = ""
        while "term-42" not in seen:
            event = terminal.next()
            assert event is not None and "end" not in event
            seen += event.get("read", "")
        terminal.write("reboot\r")
        while (event := terminal.next()) is not None and "refused" not in event:
            pass
        assert event is not None and "refused by policy" in event["refused"]
    finally:
        terminal.close()
