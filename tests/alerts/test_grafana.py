"""Grafana's webhook end to end: a running `custody serve`, then a real SMTP server.

No Grafana server can be installed here: the payload is Grafana's own documented webhook
example (see tests/alerts/realworld.py for the sources), posted over real HTTP the way
Grafana's webhook contact point posts it.
"""

from __future__ import annotations

import requests

from tests.alerts.conftest import Served, client_with_source
from tests.alerts.realworld import grafana_webhook, leaks
from tests.peers import SmtpSink, text_of


def test_grafana_webhook_reaches_the_mailbox_with_no_identifier(served: Served,
                                                                mailbox: SmtpSink) -> None:
    base, svc, h = served.base, served.services, served.admin
    client_id, token = client_with_source(served, "Muster GmbH", "noc@muster-kunde.test",
                                          "grafana", "grafana")
    requests.put(f"{base}/api/v1/clients/{client_id}/policy", headers=h, timeout=10,
                 json={"alert_names": ["Lager Nord", "Anna Schmidt"]}).raise_for_status()
    sample = grafana_webhook()
    resp = requests.post(f"{base}/ingest/grafana/grafana", json=sample.payload, timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 202 and resp.json()["queued"] == 1
    wrong = requests.post(f"{base}/ingest/alertmanager/grafana", json=sample.payload,
                          timeout=10, headers={"Authorization": f"Bearer {token}"})
    assert wrong.status_code == 400 and "grafana" in wrong.json()["error"]["message"]

    assert svc.alerts.outbox.deliver(svc.db) == 1
    [mail] = [m for m in mailbox.wait_for(2, timeout=20) if m["Subject"].startswith("[")]
    parts = [mail.as_string(), text_of(mail), *(
        p.get_payload(decode=True).decode() for p in mail.walk()
        if p.get_content_type() == "text/html")]
    headers = [f"{k}: {v}" for k, v in mail.items()]
    assert leaks(parts + headers, sample) == []
    assert "High memory usage" in mail["Subject"] or "High CPU usage" in mail["Subject"]
