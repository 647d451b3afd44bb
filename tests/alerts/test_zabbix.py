"""The shipped Zabbix media type, run by Zabbix's own script engine (zabbix_js)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests

from tests.alerts.conftest import Served

SCRIPT = Path(__file__).resolve().parents[2] / "contrib" / "zabbix" / "custody.js"


def zabbix_js(params: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["zabbix_js", "-s", str(SCRIPT), "-p", json.dumps(params)],
                          capture_output=True, text=True, timeout=60)


def test_media_type_posts_events_that_are_stored_pseudonymized(served: Served) -> None:
    h = served.admin
    client_id = requests.post(f"{served.base}/api/v1/clients", json={"name": "Kunde Zwei"},
                              headers=h, timeout=10).json()["id"]
    token = requests.post(f"{served.base}/api/v1/alert-sources", headers=h, timeout=10, json={
        "name": "zbx", "kind": "zabbix", "client_id": client_id}).json()["token"]
    params = {"url": f"{served.base}/ingest/zabbix/zbx", "token": token, "event_id": "4711",
              "subject": "Problem: Interface Gi0/1 down on core-sw-9",
              "message": "core-sw-9 (192.168.77.5) lost its uplink; ask max@kunde-zwei.de",
              "severity": "High", "status": "PROBLEM", "host": "core-sw-9"}
    result = zabbix_js(params)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr
    items = requests.get(f"{served.base}/api/v1/clients/{client_id}/notifications", headers=h,
                         timeout=10).json()["items"]
    [event] = items
    stored = json.dumps(event)
    for identifier in ("core-sw-9", "192.168.77.5", "max@kunde-zwei.de"):
        assert identifier not in stored
    assert event["alert"]["severity"] == "High" and "Interface Gi0/1 down" in stored
    again = zabbix_js(params)  # Zabbix retrying the same event
    assert again.returncode == 0
    assert len(requests.get(f"{served.base}/api/v1/clients/{client_id}/notifications",
                            headers=h, timeout=10).json()["items"]) == 1
    wrong = zabbix_js(params | {"token": "cas_wrong"})
    assert wrong.returncode != 0 and "HTTP 401" in wrong.stdout + wrong.stderr
