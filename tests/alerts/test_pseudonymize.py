"""Pseudonymization: a planted corpus comes out with no identifier left, and stays useful."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from custody.alerts.formats import pseudonymize
from custody.alerts.pseudonym import Pseudonymizer
from custody.errors import InvalidInput
from tests.alerts.corpus import corpus

CUSTODY = str(Path(sys.executable).parent / "custody")


def test_corpus_leaves_no_identifier_and_keeps_what_matters() -> None:
    engine = Pseudonymizer(os.urandom(32), known_names=["Muster GmbH"])
    for payload, planted in corpus(300):
        out = engine.alertmanager(payload)
        text = json.dumps(out)
        left = [p for p in planted if p in text or p.lower() in text.lower()]
        assert left == [], left
        first_in, first_out = payload["alerts"][0], out["alerts"][0]
        assert first_out["labels"]["alertname"] == first_in["labels"]["alertname"]
        assert first_out["labels"]["severity"] == first_in["labels"]["severity"]
        assert first_out["status"] == first_in["status"]
        assert first_out["startsAt"] == first_in["startsAt"]
        desc = first_out["annotations"]["description"]
        assert "12:30:45" in desc and "version 15.2.4.5" in desc  # times, versions readable
        assert "%" in desc and first_in["annotations"]["description"].split("value ")[1][:4] in desc
        assert out["groupKey"].startswith("group-") and payload["groupKey"] != out["groupKey"]


def test_tokens_are_stable_typed_and_keyed() -> None:
    key = os.urandom(32)
    a, b = Pseudonymizer(key), Pseudonymizer(key)
    assert a.text("ping 10.1.2.3") == b.text("ping 10.1.2.3")
    assert a.text("ping 10.1.2.3").startswith("ping ip-")
    assert Pseudonymizer(os.urandom(32)).text("ping 10.1.2.3") != a.text("ping 10.1.2.3")
    assert a.text("mail ops@kunde.de").startswith("mail email-")
    assert a.text("mac aa:bb:cc:dd:ee:ff").startswith("mac mac-")
    assert a.text("host fw1.kunde.de").startswith("host host-")
    assert a.text("call +49 30 1234567").startswith("call phone-")
    assert a.text("v6 2001:db8::1 down").startswith("v6 ip-")
    # not addresses
    for readable in ("at 12:30:45", "version 1.2.3.4", "load 0.75", "2026-11-23T10:00:00Z",
                     "disk 93.5%"):
        assert a.text(readable) == readable


def test_label_values_are_replaced_everywhere_in_the_payload() -> None:
    engine = Pseudonymizer(os.urandom(32))
    payload = {"version": "4", "groupKey": '{}:{device="berlin-fw"}', "status": "firing",
               "commonLabels": {"device": "berlin-fw", "site": "Werk Nord"},
               "alerts": [{"labels": {"device": "berlin-fw", "site": "Werk Nord"},
                           "annotations": {"summary": "berlin-fw at Werk Nord is down",
                                           "runbook_url": "https://wiki.kunde.de/berlin-fw"}}]}
    out = json.dumps(engine.alertmanager(payload))
    assert "berlin-fw" not in out and "Werk Nord" not in out and "kunde.de" not in out


@pytest.mark.parametrize(("payload", "message"), [
    ([1, 2], "must be a JSON object"),
    ({"version": "3", "alerts": []}, "version 4 expected"),
    ({"version": "4", "groupKey": "x"}, "alerts: a list of alerts is required"),
    ({"version": "4", "alerts": [{"labels": {f"l{i}": "x" for i in range(1000)}}]},
     "more than 200 labels"),
])
def test_bad_payloads(payload: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        pseudonymize(Pseudonymizer(b"k" * 32), payload)


def test_cli_pseudonymizes_stdin_with_the_clients_period_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    subprocess.run([CUSTODY, "init", "--dir", str(tmp_path)], env=env, check=True,
                   capture_output=True)
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services

    svc = build_services(load_settings(tmp_path / "custody.toml", environ={}))
    with transaction(svc.db) as db:
        svc.clients.create_client(db, "t", "Kunde Eins")
        svc.clients.create_client(db, "t", "Kunde Zwei")
    svc.engine.dispose()
    payload, planted = corpus(1)[0]

    def run(client: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([CUSTODY, "alerts", "pseudonymize", "--client", client],
                              cwd=tmp_path, env=env, input=data, capture_output=True, timeout=60)

    first = run("Kunde Eins", json.dumps(payload).encode())
    assert first.returncode == 0, first.stderr
    again = run("Kunde Eins", json.dumps(payload).encode())
    other = run("Kunde Zwei", json.dumps(payload).encode())
    text = first.stdout.decode()
    assert not [p for p in planted if p in text]
    assert first.stdout == again.stdout  # stable within the period
    assert first.stdout != other.stdout  # another client's key: unlinkable
    assert json.loads(text)["alerts"][0]["labels"]["alertname"] == payload["alerts"][0]["labels"][
        "alertname"]
    bad = run("Kunde Eins", b"\xff\xfe not utf-8")
    assert bad.returncode == 1 and b"the body is not UTF-8" in bad.stderr
    broken = run("Kunde Eins", b"{not json")
    assert broken.returncode == 1 and b"the body is not valid JSON" in broken.stderr
    deep = run("Kunde Eins", b"[" * 100_000 + b"]" * 100_000)
    assert deep.returncode == 1 and b"nested more than 32 levels" in deep.stderr
    assert b"Traceback" not in deep.stderr
    listed = run("Kunde Eins", json.dumps({"version": "4", "alerts": [
        {"labels": {"a": "b"}, "annotations": ["x"]}]}).encode())
    assert listed.returncode == 1 and b"annotations: an object of strings" in listed.stderr
    nobody = run("Nobody", b"{}")
    assert nobody.returncode == 1 and b"no client named 'Nobody'" in nobody.stderr


def test_crypto_pan_matches_the_reference_vectors() -> None:
    """The sample key and addresses published with the Crypto-PAn reference code."""
    from custody.alerts.pseudonym import CryptoPAn

    key = bytes([21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
                 216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2])
    pan = CryptoPAn(key)
    assert pan.anonymize("128.11.68.132") == "135.242.180.132"
    assert pan.anonymize("129.118.74.4") == "134.136.186.123"
    assert pan.anonymize("130.132.252.244") == "133.68.164.234"


def test_prefix_preserving_addresses_keep_subnets_and_hide_addresses() -> None:
    import ipaddress

    engine = Pseudonymizer(os.urandom(32), prefix_preserving_ips=True)
    out = engine.text("10.1.2.3 and 10.1.2.77 and 10.9.0.1 and 2001:db8::1 and 2001:db8::2")
    a, b, c, v6a, v6b = (ipaddress.ip_address(w[3:]) for w in out.split(" and "))
    assert "10.1.2.3" not in out and "2001:db8::1" not in out
    net = ipaddress.ip_network
    assert b in net(f"{a}/24", strict=False) and c not in net(f"{a}/16", strict=False)
    assert v6b in net(f"{v6a}/112", strict=False)
    assert engine.text("ping 10.1.2.3") == f"ping ip-{a}"  # stable
    plain = Pseudonymizer(os.urandom(32)).text("10.1.2.3")
    assert plain.startswith("ip-") and "." not in plain  # the default: opaque tokens
