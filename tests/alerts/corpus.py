"""A generated, labelled corpus of Alertmanager payloads with identifiers planted everywhere.

Each payload comes with the list of identifiers planted in it, so tests (and the
pseudonymize benchmark) can check that none survive.
"""

from __future__ import annotations

import random
from typing import Any

ALERTS = ["InterfaceDown", "HighCPU", "DiskFull", "BGPPeerDown", "PowerSupplyFailed",
          "TemperatureHigh", "PacketLoss", "ConfigChanged"]
FIRST = ["anna", "ben", "carla", "deniz", "emil", "fatma", "gregor", "hanna"]
SITES = ["Berlin HQ", "Lager Nord", "Filiale Koeln", "Werk 2"]


def payload(rng: random.Random, n_alerts: int = 3) -> tuple[dict[str, Any], list[str]]:
    planted: list[str] = []

    def plant(value: str) -> str:
        planted.append(value)
        return value

    device = plant(f"sw-{rng.choice(['core', 'edge', 'acc'])}-{rng.randint(1, 99):02d}")
    ip = plant(f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
    ip6 = plant(f"2001:db8:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xfff):x}")
    mac = plant(":".join(f"{rng.randint(0, 255):02x}" for _ in range(6)))
    user = rng.choice(FIRST)
    email = plant(f"{user}.{rng.randint(1, 99)}@kunde{rng.randint(1, 9)}.de")
    phone = plant(f"+49 30 {rng.randint(1000000, 9999999)}")
    fqdn = plant(f"{device}.{rng.choice(['kunde.de', 'corp.local', 'example.com'])}")
    serial = plant(f"FOC{rng.randint(1000, 9999)}{rng.choice('ABCDEFGH')}{rng.randint(10, 99)}AB")
    site = plant(rng.choice(SITES))
    name = rng.choice(ALERTS)
    alerts = []
    for _ in range(n_alerts):
        alerts.append({
            "status": rng.choice(["firing", "resolved"]),
            "labels": {"alertname": name, "device": device, "instance": f"{ip}:9116",
                       "site": site, "severity": rng.choice(["critical", "warning"]),
                       "job": "snmp", "ifName": f"Gi0/{rng.randint(1, 48)}"},
            "annotations": {
                "summary": f"{name} on {device} ({ip})",
                "description": (f"Link to {fqdn} [{ip6}] from {mac} lost at 12:30:45; value "
                                f"{rng.random() * 100:.1f}% on firmware version 15.2.4.5. Contact "
                                f"{email} or {phone}. SN: {serial}, site {site}."),
                "runbook_url": f"https://wiki.{rng.choice(['kunde.de', 'msp.example'])}/runbooks/{name}",
            },
            "startsAt": "2026-11-23T10:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prometheus.{fqdn}:9090/graph?g0.expr=up",
            "fingerprint": f"{rng.getrandbits(64):016x}",
        })
    body = {"version": "4", "groupKey": f'{{}}:{{alertname="{name}", device="{device}"}}',
            "truncatedAlerts": 0, "status": alerts[0]["status"], "receiver": "custody",
            "groupLabels": {"alertname": name, "device": device},
            "commonLabels": {"alertname": name, "device": device, "instance": f"{ip}:9116"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.msp.example:9093",
            "alerts": alerts}
    return body, planted


def corpus(count: int, seed: int = 7) -> list[tuple[dict[str, Any], list[str]]]:
    rng = random.Random(seed)
    return [payload(rng) for _ in range(count)]
