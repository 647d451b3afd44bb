"""A real Prometheus Alertmanager posts its webhook to a running `custody serve`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.alerts.conftest import Served, client_with_source
from tests.peers import SmtpSink, free_port, text_of, wait_for_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


@pytest.fixture
def database_url() -> str:
    return "unused"  # this module runs its own installation


def test_alertmanager_webhook_end_to_end(served: Served, tmp_path: Path,
                                         mailbox: SmtpSink) -> None:
    base, svc, h = served.base, served.services, served.admin
    client_id, token = client_with_source(served, "Kunde Eins", "noc@kunde-eins.test", "am",
                                          "alertmanager")

    am_port = free_port()
    (tmp_path / "am.yml").write_text(json.dumps({
        "route": {"receiver": "custody", "group_by": ["alertname", "device"],
                  "group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"},
        "receivers": [{"name": "custody", "webhook_configs": [{
            "url": f"{base}/ingest/alertmanager/am", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": token}}}]}]}))
    am = subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
                           f"--storage.path={tmp_path / 'am-data'}",
                           f"--web.listen-address=127.0.0.1:{am_port}",
                           "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", am_port)
        alert = [{"labels": {"alertname": "InterfaceDown", "device": "edge-rtr-7",
                             "instance": "10.20.30.40:9116", "severity": "critical"},
                  "annotations": {"summary": "Gi0/1 down on edge-rtr-7 (10.20.30.40)",
                                  "description": "peer 2001:db8::7 via fw1.kunde-eins.de lost"}},
                 # the review's case: ordinary sentences ending in an address
                 {"labels": {"alertname": "Ping 10.20.0.91 unreachable", "severity": "warning"},
                  "annotations": {"description": "Ping 10.20.0.77. MAC 00:1a:2b:3c:4d:5e."}}]
        posted = requests.post(f"http://127.0.0.1:{am_port}/api/v2/alerts", json=alert, timeout=10)
        assert posted.status_code == 200
        deadline = time.monotonic() + 30
        items: list[dict[str, object]] = []
        # Two groups (by alertname): two webhooks, which may arrive a moment apart.
        while time.monotonic() < deadline and len(items) < 2:
            items = requests.get(f"{base}/api/v1/clients/{client_id}/notifications", headers=h,
                                 timeout=10).json()["items"]
            time.sleep(0.5)
        assert len(items) == 2, "Alertmanager's webhooks never arrived"
    finally:
        am.terminate()
        am.wait(timeout=10)
    identifiers = ("edge-rtr-7", "10.20.30.40", "2001:db8::7", "fw1.kunde-eins.de",
                   "10.20.0.77", "00:1a:2b:3c:4d:5e", "10.20.0.91")
    stored = json.dumps(items)
    assert [i for i in identifiers if i in stored] == []
    assert "InterfaceDown" in stored and "critical" in stored
    svc.alerts.outbox.deliver(svc.db)
    sent = [m for m in mailbox.wait_for(3, timeout=40) if m["To"] == "noc@kunde-eins.test"
            and m["Subject"].startswith("[")]
    assert {("InterfaceDown" in m["Subject"]) for m in sent} == {True, False}
    for mail in sent:  # headers, both parts, the Message-ID: all of it
        raw = mail.as_string() + text_of(mail)
        assert [i for i in identifiers if i in raw] == [], mail["Subject"]
