# _source: payload shapes and message formats copied in shape from public vendor material:
#   Grafana webhook: grafana/grafana docs/sources/alerting/configure-notifications/
#     manage-contact-points/integrations/webhook-notifier.md (example JSON body) and
#     github:grafana/alerting @783ce041 templates/template_data.go (ExtendedData, ExtendedAlert:
#     silenceURL, dashboardURL, panelURL, values, valueString, imageURL),
#     receivers/webhook/v1/webhook.go (webhookMessage: version "1", orgId, title, state,
#     message) and templates/default_template.go (default title and message).
#   Alertmanager rules: samber/awesome-prometheus-alerts dist/rules/host-and-hardware/
#     node-exporter.yml, dist/rules/blackbox/blackbox-exporter.yml, dist/rules/snmp/
#     snmp-exporter.yml (alert names, severities, summary/description with VALUE and LABELS).
#   Zabbix: contrib/zabbix/custody.js (body) and the Zabbix 6.0 default problem/recovery
#     message templates and template trigger names.
#   FortiOS: docs.fortinet.com FortiOS Log Message Reference (32002 LOG_ID_ADMIN_LOGIN_FAIL
#     example, "Event log support for CEF"); Junos: System Log Messages Reference
#     (SNMP_TRAP_LINK_DOWN, UI_LOGIN_EVENT, RPD_BGP_NEIGHBOR_STATE_CHANGED); PAN-OS: syslog field
#     descriptions (system and threat log CSV order); Cisco IOS/NX-OS system message guides;
#     Windows Security auditing event texts 4625/4740/4771/4728/1102.
"""A seeded, labelled evaluation corpus of monitoring alerts in the styles real systems emit.

Every sample says which identifiers were planted in it (kind, exact text as it appears) and
which operational values must stay readable. Identifiers are planted only in the forms the
pseudonymizer promises to handle (see the module's helpers): bare host names only when they
are in inventory(), follow a host marker or are the value of a host-like key; user names
only after a user marker or from inventory(); names only from inventory().

TUNING_SEED is the slice to develop against; HELDOUT_SEED is held out: never tune on it.
Run `python -m tests.alerts.realworld` for counts per system and identifier kind.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote


@dataclass(frozen=True)
class Sample:
    system: str
    kind: str
    payload: dict[str, Any]
    planted: tuple[tuple[str, str], ...]
    survive: tuple[tuple[str, str], ...]
    alerts: int


TUNING_SEED = 7
HELDOUT_SEED = 20261129  # a held-out slice: never tune against it
IDENTIFIER_KINDS = ("ipv4", "ipv6", "mac", "email", "phone", "fqdn", "hostname", "username",
                    "serial", "name")
SURVIVE_CLASSES = ("alertname", "severity", "status", "interface", "metric", "threshold",
                   "duration", "timestamp", "version", "code", "oid", "percentage")
SYSTEMS = ("node_exporter", "blackbox", "snmp_exporter", "grafana", "zabbix", "librenms",
           "nagios", "icinga", "prtg", "windows", "cisco_ios", "cisco_nxos", "juniper",
           "fortinet", "mikrotik", "paloalto", "ubiquiti")
KINDS = {"node_exporter": "alertmanager", "blackbox": "alertmanager",
         "snmp_exporter": "alertmanager", "grafana": "grafana", "zabbix": "zabbix"}
WEIGHTS = {"node_exporter": 13, "blackbox": 7, "snmp_exporter": 10, "grafana": 11, "zabbix": 12,
           "librenms": 5, "nagios": 5, "icinga": 5, "prtg": 5, "windows": 6, "cisco_ios": 8,
           "cisco_nxos": 3, "juniper": 4, "fortinet": 4, "mikrotik": 3, "paloalto": 3,
           "ubiquiti": 3}
GRAFANA_FIXTURE = Path(__file__).with_name("grafana_webhook.json")

# The client's known names, as given to the pseudonymizer.
_SWITCHES = ("sw-core-01", "sw-core-02", "sw-acc-lager-03", "rtr-filiale-koeln")
_SERVERS = ("FS01", "DC01", "esx07", "esx08", "nas-backup", "vcenter01", "sql01")
_DEVICES = _SWITCHES + _SERVERS + (
    "PRN-EG-02", "ups-lager-01", "nx-dc-01", "ex-werk2-01", "FGT-Zentrale", "fw-zentrale",
    "pa-edge-01", "mt-gw-werk2", "ap-lager-01")
_SITES = ("Zentrale Berlin", "Lager Nord", "Filiale Koeln", "Werk 2", "Filiale Hamburg")
_COMPANY = ("Muster GmbH",)
_DOMAIN = "MUSTER"  # the client's NetBIOS domain
_LOGINS = ("jsmith", "a.schmidt", "mmueller", "k.yilmaz", "svc-backup", "t.becker", "jdoe")
_CONTACTS = ("Anna Schmidt", "Max Müller", "Kerem Yilmaz", "Thomas Becker", "Julia Schneider",
             "Jonas Weber", "John Doe")

# Identifiers the pseudonymizer is not told about: planted only after markers / in host keys.
_WORKSTATIONS = ("PC-LAGER-07", "WS-BUERO-12", "NB-AS-014", "PC-EMPFANG", "NB-KOELN-03", "TS02")
_OTHER_HOSTS = ("web03", "db02", "app-vm-11", "mail01", "backup02", "kiosk-3", "prn-og-04",
                "hv-node2")
_OTHER_USERS = ("t.weber", "j.klein", "l.hoffmann", "svc-sql", "ftpuser", "m.wagner")
_ZONES = ("muster.lan", "mgmt", "office", "corp.example.net", "muster.example", "lan",
          "lager.muster.lan")
_IDN = ("büro-fw.müller.de", "drucker-küche.muster.lan", "kasse-straße.bäckerei-muster.example",
        "nas.müller-gmbh.example")
_MAIL_DOMAINS = ("muster.example", "muster-gmbh.example", "example.com", "kunde.example")
_OUIS = ("00:1a:2b", "f0:9f:c2", "00:0c:29", "b8:27:eb", "3c:ec:ef", "d4:ca:6d", "70:a7:41",
         "00:50:56", "ac:1f:6b", "e4:38:83")
_PHONE_MARKERS = ("Tel.", "Tel:", "tel", "phone", "Phone:", "call", "mobile", "Mobile:")
_SERIAL_MARKERS = ("S/N: ", "S/N ", "SN: ", "SN:", "Serial No.: ", "Serial No. ", "serial=",
                   "s/n: ", "sn: ", "SERIAL NO. ", "Serial=")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_BASE = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def inventory() -> list[str]:
    """The client's known names: devices, sites, company and NetBIOS domain, logins, contacts."""
    return [*_DEVICES, *_SITES, *_COMPANY, _DOMAIN, *_LOGINS, *_CONTACTS]


# --- matching ----------------------------------------------------------------------------------

def _forms(kind: str, value: str) -> tuple[str, ...]:
    forms = {value}
    if kind == "ipv6":
        try:
            addr = ipaddress.IPv6Address(value.split("%", 1)[0].strip("[]"))
        except ValueError:
            pass
        else:
            forms |= {addr.compressed, addr.exploded}
    elif kind == "mac":
        digits = re.sub(r"[^0-9A-Fa-f]", "", value)
        if len(digits) == 12:
            forms.add(digits)
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


@lru_cache(maxsize=1 << 16)
def _pattern(kind: str, value: str) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(form) for form in _forms(kind, value))
    return re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE)


def _strings(output: Any) -> list[str]:
    """Every string value in output (not dict keys), plus its URL-decoded form if different."""
    found: list[str] = []
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
            decoded = unquote(item)
            if decoded != item:
                found.append(decoded)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def leaks(output: Any, sample: Sample) -> list[tuple[str, str]]:
    """Planted identifiers still present in output (whole word, case-insensitive; IPv6 also
    compressed/exploded, MACs also as 12 hex digits; URL-encoded strings are decoded too)."""
    strings = _strings(output)
    return [(kind, value) for kind, value in sample.planted
            if any(_pattern(kind, value).search(s) for s in strings)]


def destroyed(output: Any, sample: Sample) -> list[tuple[str, str]]:
    """Values that had to stay readable but are no longer present in output."""
    strings = _strings(output)
    return [(cls, value) for cls, value in sample.survive
            if not any(_pattern(cls, value).search(s) for s in strings)]


# --- the generator's state for one sample ------------------------------------------------------

def _dedupe(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys(pairs))


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.planted: list[tuple[str, str]] = []
        self.survive: list[tuple[str, str]] = []
        self.when = _BASE + timedelta(seconds=rng.randint(-3 * 86400, 3 * 86400),
                                      milliseconds=rng.randint(0, 999))

    # bookkeeping
    def plant(self, kind: str, value: str) -> str:
        assert kind in IDENTIFIER_KINDS, kind
        self.planted.append((kind, value))
        return value

    def keep(self, cls: str, value: str) -> str:
        assert cls in SURVIVE_CLASSES, cls
        self.survive.append((cls, value))
        return value

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(options)

    def sample(self, system: str, payload: dict[str, Any], alerts: int) -> Sample:
        kind = KINDS.get(system, "generic")
        strings = _strings(payload)
        planted = _dedupe(self.planted)
        for ident, value in planted:
            if not any(_pattern(ident, value).search(s) for s in strings):
                raise AssertionError(f"{system}: planted {ident} {value!r} is not in the payload")
        masked = strings
        for ident, value in planted:
            masked = [_pattern(ident, value).sub("\0", s) for s in masked]
        survive = []
        for cls, value in _dedupe(self.survive):
            # Only values that occur outside every identifier and contain none.
            if any(_pattern(ident, pv).search(value) for ident, pv in planted):
                continue
            if any(_pattern(cls, value).search(s) for s in masked):
                survive.append((cls, value))
        return Sample(system, kind, payload, planted, tuple(survive), alerts)

    # time
    def at(self, seconds: int = 0) -> datetime:
        return self.when + timedelta(seconds=seconds)

    def iso(self, dt: datetime, frac: int = 3) -> str:
        base = dt.strftime("%Y-%m-%dT%H:%M:%S")
        if frac == 0:
            return base + "Z"
        digits = f"{dt.microsecond:06d}{self.rng.randint(0, 999):03d}"[:frac]
        return f"{base}.{digits}Z"

    @staticmethod
    def syslog_ts(dt: datetime) -> str:
        return f"{_MONTHS[dt.month - 1]} {dt.day:2d} {dt:%H:%M:%S}"

    def duration(self) -> str:
        r = self.rng
        style = r.randrange(4)
        if style == 0:
            return f"{r.randint(1, 59)}m {r.randint(1, 59)}s"
        if style == 1:
            return f"{r.randint(1, 23)}h {r.randint(1, 59)}m"
        if style == 2:
            return f"{r.randint(1, 9)}d {r.randint(1, 23)}h"
        return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"

    # identifiers
    def ipv4(self, public: bool = False) -> str:
        r = self.rng
        if public:
            value = f"{r.choice(('203.0.113', '198.51.100', '192.0.2'))}.{r.randint(1, 254)}"
        else:
            c = r.random()
            if c < 0.5:
                value = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            elif c < 0.75:
                value = f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            else:
                value = f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}"
        return self.plant("ipv4", value)

    def cidr(self, net: str | None = None) -> str:
        """'10.1.2.0/24' with the network address planted."""
        r = self.rng
        net = net or f"10.{r.randint(0, 255)}.{r.randint(0, 255)}"
        self.plant("ipv4", f"{net}.0")
        return f"{net}.0/24"

    def ip_range(self, net: str | None = None) -> str:
        """'10.0.0.1-10.0.0.50' with both ends planted."""
        r = self.rng
        if net is None:
            prefix = r.choice(("10", "172.16", "192.168"))
            net = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}" if prefix == "10" else \
                f"{prefix}.{r.randint(0, 255)}"
        low = r.randint(1, 120)
        first = self.plant("ipv4", f"{net}.{low}")
        last = self.plant("ipv4", f"{net}.{low + r.randint(20, 120)}")
        return f"{first}-{last}"

    def ipv6(self, style: str | None = None,
             zones: tuple[str, ...] = ("eth0", "ens192", "bond0", "12")) -> str:
        """An IPv6 address as it appears in text (possibly bracketed, with zone or port)."""
        r = self.rng
        style = style or r.choice(("doc", "doc", "ula", "upper", "exploded", "mapped", "link",
                                   "bracket"))
        if style == "mapped":
            v4 = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            return self.plant("ipv6", f"::ffff:{v4}")
        if style == "link":
            value = (f"fe80::{r.randint(0x100, 0xfff):x}:{r.randint(0x10, 0xff):x}ff:"
                     f"fe{r.randint(0x10, 0xff):x}:{r.randint(0x1000, 0xffff):x}")
            self.plant("ipv6", value)
            return f"{value}%{r.choice(zones)}"
        if style == "ula":
            addr = ipaddress.IPv6Address(
                f"fd{r.randint(0x10, 0xff):x}:{r.randint(0x1000, 0xffff):x}:"
                f"{r.randint(0x1000, 0xffff):x}:{r.randint(1, 0xff):x}::{r.randint(1, 0xfff):x}")
        else:
            addr = ipaddress.IPv6Address(f"2001:db8:{r.randint(1, 0xffff):x}:"
                                         f"{r.randint(0, 0xff):x}::{r.randint(1, 0xfff):x}")
        if style == "exploded":
            return self.plant("ipv6", addr.exploded)
        if style == "upper":
            return self.plant("ipv6", addr.compressed.upper())
        value = self.plant("ipv6", addr.compressed)
        if style == "bracket":
            return f"[{value}]:{r.choice((443, 8443, 9100, 22))}"
        return value

    def mac(self, style: str | None = None) -> str:
        r = self.rng
        octets = self.pick(_OUIS).split(":") + [f"{r.randint(0, 255):02x}" for _ in range(3)]
        style = style or r.choice(("colon", "colon", "upper", "dash", "cisco", "bare",
                                   "bare_lower"))
        if style == "colon":
            value = ":".join(octets)
        elif style == "upper":
            value = ":".join(octets).upper()
        elif style == "dash":
            value = "-".join(octets).upper()
        elif style == "cisco":
            joined = "".join(octets)
            value = ".".join(joined[i:i + 4] for i in (0, 4, 8))
        elif style == "bare":
            value = "".join(octets).upper()
        else:
            value = "".join(octets)
        return self.plant("mac", value)

    def email(self, person: str | None = None) -> str:
        r = self.rng
        if person is None or self.chance(0.3):
            local = r.choice(("it-support", "noc", "helpdesk", "edv", "it-lager", "sysadmin"))
        else:
            first, _, last = person.lower().replace("ü", "ue").partition(" ")
            local = r.choice((f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last[0]}"))
        return self.plant("email", f"{local}@{self.pick(_MAIL_DOMAINS)}")

    def phone(self) -> str:
        """A phone number, with a marker before it where its shape alone is not telling."""
        r = self.rng
        style = r.randrange(7)
        if style == 0:
            value = f"+49 {r.choice(('30', '40', '89', '221', '69'))} {r.randint(1000000, 9999999)}"
        elif style == 1:
            value = f"+49 {r.choice(('151', '160', '171', '176'))} {r.randint(1000000, 99999999)}"
        elif style == 2:
            value = f"+1 {r.choice(('415', '212', '646'))} 555 {r.randint(100, 199):04d}"
        elif style == 3:
            value = f"({r.choice(('415', '212', '646'))}) 555-{r.randint(100, 199):04d}"
        elif style == 4:
            value = f"{r.choice(('415', '212', '646'))}-555-{r.randint(100, 199):04d}"
        elif style == 5:
            value = f"0{r.choice(('30', '40', '89', '221'))} {r.randint(1000000, 9999999)}"
        else:
            area = r.choice(("88", "711", "351"))
            value = f"0{area} {r.randint(100, 999)} {r.randint(1000, 9999)}"
        self.plant("phone", value)
        if style >= 5 or self.chance(0.5):
            return f"{self.pick(_PHONE_MARKERS)} {value}"
        return value

    def fqdn(self, host: str | None = None) -> str:
        r = self.rng
        if host is None and self.chance(0.1):
            return self.plant("fqdn", self.pick(_IDN))
        host = host or r.choice((*_DEVICES, *_OTHER_HOSTS, "intranet", "owa", "vpn", "wiki"))
        value = f"{host.lower()}.{self.pick(_ZONES)}"
        c = r.random()
        if c < 0.12:
            value = value.upper()
        elif c < 0.18:
            value = f"{host}.{self.pick(_ZONES).upper()}"
        return self.plant("fqdn", value)

    def serial(self, marker: str | None = None) -> str:
        """'S/N: FOC2231X0AB' and the like, with the serial planted."""
        r = self.rng
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        style = r.randrange(6)
        if style == 0:
            value = (f"FOC{r.randint(1800, 2599)}{r.choice(letters)}{r.randint(0, 9)}"
                     f"{r.choice(letters)}{r.choice(letters)}")
        elif style == 1:
            value = f"FGT60ETK18{r.randint(100000, 999999)}"
        elif style == 2:
            value = "".join(r.choice("0123456789" + letters) for _ in range(7))
        elif style == 3:
            value = f"CZJ{r.randint(1000000, 9999999)}"
        elif style == 4:
            value = f"JN{r.randint(0x1000000000, 0xFFFFFFFFFF):X}"
        else:
            value = f"{r.randint(1800, 2499)}PDN{r.randint(100000, 999999)}"
        if self.chance(0.15):
            value = value.lower()
        self.plant("serial", value)
        return f"{marker or self.pick(_SERIAL_MARKERS)}{value}"

    def device(self, pool: tuple[str, ...] = _DEVICES) -> str:
        """A known device name (in inventory()): may stand anywhere."""
        return self.plant("hostname", self.pick(pool))

    def other_host(self, pool: tuple[str, ...] = _OTHER_HOSTS) -> str:
        """An unknown host name: the caller puts it after a host marker or in a host key."""
        return self.plant("hostname", self.pick(pool))

    def domain(self) -> str:
        return self.plant("hostname", _DOMAIN)

    def login(self) -> str:
        """A known login (in inventory()): may stand anywhere."""
        return self.plant("username", self.pick(_LOGINS))

    def user(self) -> str:
        """A login, known or not: the caller puts it after a user marker."""
        return self.plant("username", self.pick(_LOGINS + _OTHER_USERS))

    def site(self) -> str:
        return self.plant("name", self.pick(_SITES))

    def company(self) -> str:
        return self.plant("name", self.pick(_COMPANY))

    def contact(self) -> str:
        return self.plant("name", self.pick(_CONTACTS))

    def contact_line(self) -> str:
        """'Anna Schmidt, Tel. 030 1234567, anna.schmidt@...' in a few shapes."""
        person = self.contact()
        r = self.rng
        style = r.randrange(4)
        if style == 0:
            return f"Contact: {person}, {self.phone()}, {self.email(person)}."
        if style == 1:
            return f"Ansprechpartner {person} ({self.phone()})"
        if style == 2:
            return f"On-site contact: {person} <{self.email(person)}>"
        return f"Please call {person} on {self.plant('phone', self._bare_intl())}."

    def note(self) -> str:
        """A line of free text an operator wrote, identifiers next to punctuation."""
        r = self.rng
        style = r.randrange(6)
        if style == 0:
            return f"Ping {self.ipv4()}. If it is down, call {self.phone()}."
        if style == 1:
            return f"Check the cabling ({self.ipv4()}); see {self.fqdn()}!"
        if style == 2:
            return f"Last change by {self.user()}, on {self.device()}: VLAN moved."
        if style == 3:
            return f"Mail \"{self.email()}\", copy to {self.contact()}."
        if style == 4:
            return f"Gateway [{self.ipv6(r.choice(('doc', 'ula')))}], host={self.other_host()};"
        return f"Route {self.cidr()} via {self.ipv4()}, MAC {self.mac()}."

    def _bare_intl(self) -> str:
        return f"+49 {self.rng.choice(('30', '40', '89'))} {self.rng.randint(1000000, 9999999)}"

    def host_ref(self, port: int | None = None, host: str | None = None) -> str:
        """How an instance/target is written: IP, FQDN, known name, or IPv6 (with port)."""
        c = self.rng.random()
        suffix = f":{port}" if port else ""
        if c < 0.45:
            return self.ipv4() + suffix
        if c < 0.75:
            return self.fqdn(host) + suffix
        if c < 0.85:
            if host and host not in _DEVICES:
                return self.fqdn(host) + suffix
            return (self.plant("hostname", host) if host else self.device()) + suffix
        if port:
            return f"[{self.ipv6('doc')}]{suffix}"
        return self.ipv6("doc")

    def iface(self, vendor: str) -> tuple[str, str]:
        """(long name, short name) of an interface of that vendor, kept readable."""
        r = self.rng
        if vendor == "cisco":
            kind = r.choice(("GigabitEthernet", "GigabitEthernet", "TenGigabitEthernet"))
            pos = f"1/{r.choice((0, 0, 1))}/{r.randint(1, 48)}"
            short = {"GigabitEthernet": "Gi", "TenGigabitEthernet": "Te"}[kind]
            return self.keep("interface", f"{kind}{pos}"), self.keep("interface", f"{short}{pos}")
        if vendor == "juniper":
            name = f"{r.choice(('ge', 'ge', 'xe'))}-0/{r.choice((0, 1))}/{r.randint(0, 47)}"
            return self.keep("interface", name), self.keep("interface", f"{name}.0")
        if vendor == "nxos":
            name = f"Ethernet1/{r.randint(1, 54)}"
            return self.keep("interface", name), self.keep("interface", f"Eth1/{name[10:]}")
        if vendor == "linux":
            name = r.choice(("eth0", "eth1", "ens192", "ens160", "bond0", "enp3s0f1"))
            return self.keep("interface", name), name
        if vendor == "fortinet":
            name = r.choice(("port1", "port2", "port5", "wan1", "wan2", "internal", "dmz"))
            return self.keep("interface", name), name
        if vendor == "mikrotik":
            name = r.choice(("ether1", "ether2", "ether5", "sfp-sfpplus1", "wlan1", "bridge"))
            return self.keep("interface", name), name
        if vendor == "paloalto":
            name = f"ethernet1/{r.randint(1, 8)}"
            return self.keep("interface", name), name
        name = f"vlan{r.choice((10, 20, 42, 100, 110))}"
        return self.keep("interface", name), name


# --- Alertmanager (node_exporter, blackbox_exporter, snmp_exporter) ---------------------------

def _go_map(labels: dict[str, str]) -> str:
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"


def _am_payload(g: _Gen, alerts: list[dict[str, Any]], group_by: tuple[str, ...]) -> dict[str, Any]:
    common = dict(alerts[0]["labels"])
    annotations = dict(alerts[0]["annotations"])
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
        annotations = {k: v for k, v in annotations.items() if alert["annotations"].get(k) == v}
    group = {k: common[k] for k in group_by if k in common}
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    g.keep("status", status)
    route = g.pick(("{}", "{}", '{}/{severity=~"critical|warning"}'))
    if g.chance(0.15):
        route = f'{{}}/{{customer="{g.company()}"}}'
    pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(group.items()))
    if g.chance(0.6):
        external = "http://alertmanager.msp.example:9093"
    else:
        external = f"http://{g.fqdn(g.pick(('am01', 'alertmanager', 'monitoring')))}:9093"
    return {"version": "4", "groupKey": f"{route}:{{{pairs}}}", "truncatedAlerts": 0,
            "status": status, "receiver": g.pick(("custody", "custody-webhook", "msp-custody")),
            "groupLabels": group, "commonLabels": common, "commonAnnotations": annotations,
            "externalURL": external, "alerts": alerts}


def _am_alert(g: _Gen, labels: dict[str, str], annotations: dict[str, str], expr: str,
              prometheus: str, resolved: bool) -> dict[str, Any]:
    start = g.at(-g.rng.randint(60, 7200))
    starts = g.keep("timestamp", g.iso(start, 3))
    ends = g.iso(g.at(), 3) if resolved else "0001-01-01T00:00:00Z"
    status = g.keep("status", "resolved" if resolved else "firing")
    g.keep("alertname", labels["alertname"])
    g.keep("severity", labels["severity"])
    return {"status": status, "labels": labels, "annotations": annotations, "startsAt": starts,
            "endsAt": ends,
            "generatorURL": f"{prometheus}/graph?g0.expr={quote_plus(expr)}&g0.tab=1",
            "fingerprint": f"{g.rng.getrandbits(64):016x}"}


def _prometheus(g: _Gen) -> str:
    c = g.rng.random()
    if c < 0.5:
        return f"http://{g.fqdn(g.pick(('prometheus', 'prom01', 'monitoring')))}:9090"
    if c < 0.7:
        return f"http://{g.ipv4()}:9090"
    return "http://prometheus.msp.example:9090"


def _extra_labels(g: _Gen, labels: dict[str, str]) -> None:
    if g.chance(0.35):
        labels["site"] = g.site()
    if g.chance(0.2):
        labels["customer"] = g.company()


def _extra_annotations(g: _Gen, name: str, annotations: dict[str, str]) -> None:
    r = g.rng
    if g.chance(0.3):
        wiki = g.fqdn("wiki") if g.chance(0.6) else "runbooks.msp.example"
        annotations["runbook_url"] = f"https://{wiki}/display/IT/{name}"
    if g.chance(0.15):
        annotations["contact"] = g.contact_line()
    if g.chance(0.15):
        annotations["note"] = g.note()
    if g.chance(0.06):
        annotations["asset"] = f"Asset {r.randint(1000, 9999)}, {g.serial()}"


_NODE_RULES: tuple[tuple[str, str, str, str, str, str, tuple[float, float], str], ...] = (
    # alertname, severity, summary, description, extra labels, threshold as written,
    # range of $value, expression (awesome-prometheus-alerts, node-exporter.yml)
    ("HostOutOfMemory", "warning", "Host out of memory",
     "Node memory is filling up (< 10% left)", "", "< 10%", (1, 9.9),
     "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10"),
    ("HostMemoryUnderMemoryPressure", "warning", "Host memory under memory pressure",
     "The node is under heavy memory pressure. High rate of major page faults", "", "",
     (1000, 9000), "rate(node_vmstat_pgmajfault[1m]) > 1000"),
    ("HostOutOfDiskSpace", "warning", "Host out of disk space",
     "Disk is almost full (< 10% left)", "fs", "< 10%", (0.5, 9.9),
     "(node_filesystem_avail_bytes * 100) / node_filesystem_size_bytes < 10 and ON (instance, "
     "device, mountpoint) node_filesystem_readonly == 0"),
    ("HostOutOfInodes", "warning", "Host out of inodes",
     "Disk is almost running out of available inodes (< 10% left)", "fs", "< 10%", (0.5, 9.9),
     'node_filesystem_files_free{fstype!="msdosfs"} / node_filesystem_files{fstype!="msdosfs"} '
     "* 100 < 10"),
    ("HostFilesystemDeviceError", "critical", "Host filesystem device error",
     "{instance}: Device error with the {mountpoint} filesystem", "fs", "", (1, 1),
     "node_filesystem_device_error == 1"),
    ("HostHighCpuLoad", "warning", "Host high CPU load", "CPU load is > 80%", "", "> 80%",
     (0.81, 0.999), 'sum by (instance) (avg by (mode, instance) (rate(node_cpu_seconds_total'
     '{mode!="idle"}[2m]))) > 0.8'),
    ("HostCpuHighIowait", "warning", "Host CPU high iowait",
     "CPU iowait > 10%. A high iowait means that you are disk or network bound.", "", "> 10%",
     (10.5, 60), 'avg by (instance) (rate(node_cpu_seconds_total{mode="iowait"}[5m])) * 100 > 10'),
    ("HostUnusualDiskIo", "warning", "Host unusual disk IO",
     "Time spent in IO is too high on {instance}. Check storage for issues.", "", "", (0.5, 1),
     "rate(node_disk_io_time_seconds_total[1m]) > 0.5"),
    ("HostSwapIsFillingUp", "warning", "Host swap is filling up", "Swap is filling up (>80%)",
     "", ">80%", (80.5, 99.9),
     "(1 - (node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes)) * 100 > 80"),
    ("HostSystemdServiceCrashed", "warning", "Host systemd service crashed",
     "systemd service crashed", "unit", "", (1, 1),
     'node_systemd_unit_state{state="failed"} == 1'),
    ("HostPhysicalComponentTooHot", "warning", "Host physical component too hot",
     "Physical hardware component too hot", "hw", "", (75.5, 98),
     'node_hwmon_temp_celsius * ignoring(label) group_left(instance, job, node, sensor) '
     'node_hwmon_sensor_label{label!="tctl"} > 75'),
    ("HostRaidDiskFailure", "warning", "Host RAID disk failure",
     "At least one device in RAID array on {instance} failed. Array {md_device} needs attention "
     "and possibly a disk swap", "md", "", (1, 2), 'node_md_disks{state="failed"} > 0'),
    ("HostNetworkReceiveErrors", "warning", "Host Network Receive Errors",
     "Host {instance} interface {device} has encountered {count} receive errors in the last two "
     "minutes.", "net", "", (0.011, 0.4),
     "rate(node_network_receive_errs_total[2m]) / rate(node_network_receive_packets_total[2m]) "
     "> 0.01"),
    ("HostOomKillDetected", "warning", "Host OOM kill detected", "OOM kill detected", "", "",
     (1, 4), "increase(node_vmstat_oom_kill[1m]) > 0"),
    ("InstanceDown", "critical", "Instance {instance} down",
     "{instance} of job {job} has been down for more than 5 minutes.", "", "", (0, 0), "up == 0"),
)
_NODE_HOSTS = _SERVERS + _OTHER_HOSTS


def _node_exporter(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    name, severity, summary, description, extra, threshold, span, expr = r.choice(_NODE_RULES)
    prometheus = _prometheus(g)
    customer = g.company() if g.chance(0.2) else ""
    alerts = []
    for _ in range(r.choice((1, 2, 2, 3, 3, 4, 5, 6))):
        host = g.pick(_NODE_HOSTS)
        instance = g.host_ref(9100, host)
        labels = {"alertname": name, "instance": instance, "job": "node", "severity": severity}
        if name != "InstanceDown":
            labels["nodename"] = g.plant("hostname", host)
        values = {"count": "", "instance": instance, "job": "node"}
        if extra == "fs":
            labels |= {"device": r.choice(("/dev/sda1", "/dev/mapper/vg0-data", "/dev/nvme0n1p2")),
                       "fstype": r.choice(("ext4", "xfs")),
                       "mountpoint": r.choice(("/", "/var", "/data", "/srv/backup"))}
        elif extra == "net":
            labels["device"] = g.iface("linux")[0]
        elif extra == "md":
            labels["md_device"] = r.choice(("md0", "md1", "md127"))
        elif extra == "unit":
            labels |= {"name": r.choice(("nginx.service", "postgresql.service", "smbd.service")),
                       "state": "failed"}
        elif extra == "hw":
            labels |= {"chip": "platform_coretemp_0", "sensor": f"temp{r.randint(1, 9)}"}
        if g.chance(0.35):
            labels["site"] = g.site()
        if customer:
            labels["customer"] = customer
        values |= {k: v for k, v in labels.items() if k in ("device", "mountpoint", "md_device")}
        low, high = span
        value = f"{r.uniform(low, high):.6g}" if low != high else f"{low:g}"
        if low == int(low) and high == int(high) and high - low < 5:
            value = str(r.randint(int(low), int(high)))
        if low > 1 or not value.isdigit():
            g.keep("metric", value)
        values["count"] = value
        if threshold:
            g.keep("threshold", threshold)
        expression = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
        text = description.format(**values)
        if name != "InstanceDown":
            text += f"\n  VALUE = {value}\n  LABELS = {_go_map(expression)}"
        annotations = {"summary": (summary.format(**values) if "{" in summary
                                   else f"{summary} (instance {instance})"),
                       "description": text}
        _extra_annotations(g, name, annotations)
        if name != "InstanceDown":
            expr_full = f"({expr}) * on(instance) group_left (nodename) " \
                        'node_uname_info{nodename=~".+"}'
        else:
            expr_full = expr
        alerts.append(_am_alert(g, labels, annotations, expr_full, prometheus,
                                resolved=g.chance(0.25)))
    group_by = ("alertname", "site") if g.chance(0.3) else ("alertname",)
    return _am_payload(g, alerts, group_by), len(alerts)


_BLACKBOX_RULES = (
    # alertname, severity, summary, description, expression (blackbox-exporter.yml)
    ("BlackboxProbeFailed", "critical", "Blackbox probe failed", "Probe failed",
     "probe_success == 0"),
    ("BlackboxProbeHttpFailure", "critical", "Blackbox probe HTTP failure",
     "HTTP status code is not 200-399",
     "probe_http_status_code <= 199 OR probe_http_status_code >= 400"),
    ("BlackboxSslCertificateWillExpireSoon", "warning", "Blackbox SSL certificate will expire soon",
     "SSL certificate expires in less than 20 days",
     "3 <= round((last_over_time(probe_ssl_earliest_cert_expiry[10m]) - time()) / 86400, 0.1) "
     "< 20"),
    ("BlackboxProbeSlowHttp", "warning", "Blackbox probe slow HTTP",
     "HTTP request took more than 1s", "avg_over_time(probe_http_duration_seconds[1m]) > 1"),
    ("BlackboxProbeSlowPing", "warning", "Blackbox probe slow ping",
     "Blackbox ping took more than 1s", "avg_over_time(probe_icmp_duration_seconds[1m]) > 1"),
    ("BlackboxSlowProbe", "warning", "Blackbox slow probe",
     "Blackbox probe took more than 1s to complete",
     "avg_over_time(probe_duration_seconds[1m]) > 1"),
)


def _blackbox(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    name, severity, summary, description, expr = r.choice(_BLACKBOX_RULES)
    prometheus = _prometheus(g)
    alerts = []
    for _ in range(r.choice((1, 1, 2, 2, 3, 4))):
        if "Ping" in name:
            job, module = "blackbox_icmp", "icmp"
            c = r.random()
            target = g.ipv4() if c < 0.4 else g.ipv6(r.choice(("doc", "ula", "upper"))) \
                if c < 0.6 else g.fqdn() if c < 0.85 else g.device()
        elif name == "BlackboxProbeFailed" and g.chance(0.4):
            job, module = "blackbox_tcp", "tcp_connect"
            port = r.choice((22, 443, 3389, 445, 25))
            target = f"[{g.ipv6('doc')}]:{port}" if g.chance(0.25) else f"{g.ipv4()}:{port}"
        else:
            job, module = "blackbox_http", r.choice(("http_2xx", "http_2xx", "https_2xx_auth"))
            host = g.fqdn(g.pick(("intranet", "owa", "wiki", "erp", "vpn"))) if g.chance(0.7) \
                else g.ipv4()
            target = f"https://{host}{r.choice(('', '/', '/health', '/owa/', ':8443/login'))}"
        labels = {"alertname": name, "instance": target, "job": job, "module": module,
                  "severity": severity}
        _extra_labels(g, labels)
        if name == "BlackboxProbeHttpFailure":
            value = g.keep("code", r.choice(("500", "502", "503", "404", "401")))
        elif name == "BlackboxSslCertificateWillExpireSoon":
            value = g.keep("metric", f"{r.uniform(3.1, 19.9):.1f}")
            g.keep("threshold", "20 days")
        elif name == "BlackboxProbeFailed":
            value = "0"
        else:
            value = g.keep("metric", f"{r.uniform(1.01, 9.5):.6g}")
            g.keep("threshold", "1s")
        expression = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
        annotations = {"summary": f"{summary} (instance {target})",
                       "description": f"{description}\n  VALUE = {value}\n"
                                      f"  LABELS = {_go_map(expression)}"}
        _extra_annotations(g, name, annotations)
        alerts.append(_am_alert(g, labels, annotations, expr, prometheus, resolved=g.chance(0.2)))
    return _am_payload(g, alerts, ("alertname",)), len(alerts)


def _if_alias(g: _Gen) -> str:
    r = g.rng
    style = r.randrange(7)
    if style == 0:
        return f"Uplink to {g.device(_SWITCHES)}"
    if style == 1:
        return f"to {g.other_host()} {r.choice(('eth0', 'nic1', 'port1'))}"
    if style == 2:
        return f"AP {g.site()} 1.OG"
    if style == 3:
        return f"{g.contact()} Buero {r.randint(1, 3)}.{r.randint(10, 40)}"
    if style == 4:
        return f"WAN {g.ipv4(public=True)}/30"
    if style == 5:
        return f"Server {g.other_host()}"
    return ""


def _snmp_exporter(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    name = r.choice(("SnmpInterfaceDown", "SnmpInterfaceDown", "SnmpTargetDown",
                     "SnmpInterfaceHighBandwidthUsageInbound", "SnmpInterfaceHighInboundErrorRate",
                     "SnmpDeviceRestarted", "CiscoTemperatureHigh"))
    severity = {"SnmpTargetDown": "critical", "SnmpInterfaceDown": "critical",
                "SnmpDeviceRestarted": "info"}.get(name, "warning")
    prometheus = _prometheus(g)
    alerts = []
    count = 1 if name in ("SnmpTargetDown", "SnmpDeviceRestarted") else r.choice((1, 2, 3, 4, 5, 6))
    switch = g.pick(_SWITCHES)
    instance = g.ipv4() if g.chance(0.6) else g.fqdn(switch)
    sys_name = ""
    if g.chance(0.4):
        sys_name = g.plant("hostname", switch) if g.chance(0.6) else \
            g.other_host(("sw-acc-og2-05", "sw-lager-2", "rtr-werk2"))
    vendor = r.choice(("cisco", "cisco", "juniper", "mikrotik"))
    for _ in range(count):
        labels = {"alertname": name, "instance": instance, "job": "snmp", "severity": severity}
        if sys_name:
            labels["sysName"] = sys_name
        value = "2"
        if name.startswith("SnmpInterface"):
            long, short = g.iface(vendor)
            labels |= {"ifAlias": _if_alias(g), "ifDescr": long,
                       "ifIndex": str(r.randint(1, 10148)), "ifName": short}
            if name == "SnmpInterfaceDown":
                description = (f"Interface {long} on {instance} is operationally down while "
                               f"administratively up.")
            else:
                direction = "inbound utilization is above 80%" if "Bandwidth" in name else \
                    "has an inbound error rate above 5%"
                description = f"Interface {long} on {instance} {direction}."
                g.keep("percentage", "80%" if "Bandwidth" in name else "5%")
                value = g.keep("metric", f"{r.uniform(0.05, 0.99):.6g}")
        elif name == "SnmpTargetDown":
            description = f"SNMP device {instance} is unreachable."
            value = "0"
        elif name == "SnmpDeviceRestarted":
            description = f"SNMP device {instance} has restarted (uptime < 5 minutes)."
            value = g.keep("metric", str(r.randint(20, 299)))
        else:
            sensor = r.randint(1000, 1010)
            oid = g.keep("oid", f"1.3.6.1.4.1.9.9.13.1.3.1.3.{sensor}")
            value = g.keep("metric", str(r.randint(56, 79)))
            labels["ciscoEnvMonTemperatureStatusIndex"] = str(sensor)
            description = (f"Temperature sensor {sensor} (OID {oid}) on {instance} reports "
                           f"{value} C, above 55 C.")
        expression = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
        summary = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.removeprefix("Snmp"))
        annotations = {"summary": f"SNMP {summary.lower()} (instance {instance})",
                       "description": f"{description}\n  VALUE = {value}\n"
                                      f"  LABELS = {_go_map(expression)}"}
        if name == "SnmpInterfaceDown" and g.chance(0.5):
            annotations["oid"] = g.keep("oid", f"1.3.6.1.2.1.2.2.1.8.{labels['ifIndex']}")
        _extra_annotations(g, name, annotations)
        expr = {"SnmpTargetDown": 'up{job=~"snmp.*"} == 0',
                "SnmpDeviceRestarted": "sysUpTime / 100 < 300",
                "CiscoTemperatureHigh": "ciscoEnvMonTemperatureStatusValue > 55",
                "SnmpInterfaceDown": '(ifOperStatus{job=~"snmp.*"} == 2) and on(instance, job, '
                                     'ifIndex) (ifAdminStatus{job=~"snmp.*"} == 1)',
                }.get(name, 'rate(ifHCInOctets{job=~"snmp.*"}[5m]) * 8 / ifSpeed > 0.80')
        alerts.append(_am_alert(g, labels, annotations, expr, prometheus, resolved=g.chance(0.2)))
    group_by = ("alertname", "instance") if g.chance(0.5) else ("alertname",)
    return _am_payload(g, alerts, group_by), len(alerts)


# --- Grafana unified alerting -------------------------------------------------------------------

_GRAFANA_RULES = (
    ("High CPU usage", "Linux", "warning", "CPU usage on {instance} is {value}%", "> 90"),
    ("Disk space low", "Linux", "critical", "Only {value}% free on {mountpoint} of {instance}",
     "< 10"),
    ("Host down", "Availability", "critical", "{instance} does not answer ping", ""),
    ("Interface errors", "Network", "warning",
     "Interface {ifName} on {instance} has {value} input errors/s", "> 5"),
    ("High memory usage", "Windows", "warning", "Memory usage on {instance} is {value}%", "> 90"),
)


def _grafana(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    name, folder, severity, template, threshold = r.choice(_GRAFANA_RULES)
    style = r.random()
    if style < 0.45:
        external = f"https://{g.fqdn(g.pick(('grafana', 'monitor', 'dashboards')))}/"
    elif style < 0.6:
        external = f"http://{g.ipv4()}:3000/"
    else:
        external = "https://grafana.msp.example/"
    rule_uid = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(9))
    dash_uid = r.choice(("rYdddlPWk", "000000012", "fd8b3c2a", "netif01"))
    g.keep("alertname", name)
    g.keep("severity", severity)
    alerts = []
    for _ in range(r.choice((1, 2, 2, 3, 4, 5))):
        port = 9182 if folder == "Windows" else 9100
        host = g.pick(_SWITCHES if folder == "Network" else _NODE_HOSTS)
        instance = g.host_ref(None if folder in ("Network", "Availability") else port, host)
        labels = {"alertname": name, "grafana_folder": folder, "instance": instance,
                  "severity": severity}
        fields = {"instance": instance, "value": "", "mountpoint": "", "ifName": ""}
        if folder == "Linux" or folder == "Windows":
            labels["nodename"] = g.plant("hostname", host)
        if name == "Disk space low":
            fields["mountpoint"] = labels["mountpoint"] = r.choice(("/", "/var", "/data"))
        if name == "Interface errors":
            long, short = g.iface(r.choice(("cisco", "juniper", "fortinet")))
            fields["ifName"] = labels["ifName"] = short
        if g.chance(0.4):
            labels["site"] = g.site()
        if name == "Host down":
            value_b = 0.0
        elif name == "Disk space low":
            value_b = round(r.uniform(1, 9.9), 1)
        elif name == "Interface errors":
            value_b = round(r.uniform(5.1, 400), 1)
        else:
            value_b = round(r.uniform(90.1, 99.9), 1)
        firing = not g.chance(0.2)
        fields["value"] = f"{value_b:g}"
        if value_b:
            g.keep("metric", f"{value_b:g}")
        if threshold:
            g.keep("threshold", threshold)
        shown = {k: v for k, v in labels.items() if k not in ("alertname", "grafana_folder",
                                                              "severity")}
        label_text = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        value_string = (f"[ var='B' labels={{{label_text}}} value={value_b:g} ], "
                        f"[ var='C' labels={{{label_text}}} value={1 if firing else 0} ]")
        annotations = {"summary": template.format(**fields)}
        if g.chance(0.5):
            annotations["description"] = (
                f"{template.format(**fields)}. Threshold {threshold or '= 0'}, "
                f"site {labels.get('site') or g.site()}. {g.contact_line()}")
        if g.chance(0.3):
            annotations["runbook_url"] = f"https://{g.fqdn('wiki')}/runbooks/{quote(name)}"
        matchers = "&".join(f"matcher={quote_plus(f'{k}={v}')}"
                            for k, v in sorted(labels.items()) if k != "grafana_folder")
        start = g.at(-r.randint(60, 5400))
        panel = r.randint(2, 40)
        alert: dict[str, Any] = {
            "status": g.keep("status", "firing" if firing else "resolved"),
            "labels": labels, "annotations": annotations,
            "startsAt": g.keep("timestamp", start.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"),
            "endsAt": "0001-01-01T00:00:00Z" if firing else g.iso(g.at(), 0),
            "generatorURL": f"{external}alerting/grafana/{rule_uid}/view?orgId=1",
            "fingerprint": f"{r.getrandbits(64):016x}",
            "silenceURL": f"{external}alerting/silence/new?alertmanager=grafana&{matchers}"
                          f"&orgId=1",
            "dashboardURL": f"{external}d/{dash_uid}?orgId=1&var-instance={quote(instance)}",
            "panelURL": f"{external}d/{dash_uid}?orgId=1&viewPanel={panel}",
            "values": {"B": value_b, "C": 1 if firing else 0},
            "valueString": value_string,
        }
        if g.chance(0.3):
            alert["imageURL"] = f"{external}public/img/attachments/{r.getrandbits(40):010x}.png"
        alerts.append(alert)
    common = dict(alerts[0]["labels"])
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
    group = {"alertname": name, "grafana_folder": folder}
    firing_alerts = [a for a in alerts if a["status"] == "firing"]
    resolved_alerts = [a for a in alerts if a["status"] == "resolved"]
    status = "firing" if firing_alerts else "resolved"
    rest = [v for k, v in sorted(common.items()) if k not in group]
    counts = f"FIRING:{len(firing_alerts)}" if firing_alerts else "RESOLVED"
    if firing_alerts and resolved_alerts:
        counts += f", RESOLVED:{len(resolved_alerts)}"
    title = f"[{counts}] {name} {folder} " + (f"({' '.join(rest)})" if rest else "")

    def listing(items: list[dict[str, Any]]) -> str:
        out = []
        for a in items:
            vals = ", ".join(f"{k}={v:g}" for k, v in a["values"].items())
            lines = [f"Value: {vals}", "Labels:"]
            lines += [f" - {k} = {v}" for k, v in sorted(a["labels"].items())]
            lines.append("Annotations:")
            lines += [f" - {k} = {v}" for k, v in sorted(a["annotations"].items())]
            lines += [f"Source: {a['generatorURL']}", f"Silence: {a['silenceURL']}",
                      f"Dashboard: {a['dashboardURL']}", f"Panel: {a['panelURL']}"]
            out.append("\n" + "\n".join(lines) + "\n")
        return "".join(out)

    message = ""
    if firing_alerts:
        message += "**Firing**\n" + listing(firing_alerts)
        if resolved_alerts:
            message += "\n\n"
    if resolved_alerts:
        message += "**Resolved**\n" + listing(resolved_alerts)
    g.keep("status", status)
    payload = {
        "receiver": g.pick(("custody", "MSP custody webhook")), "status": status, "orgId": 1,
        "alerts": alerts, "groupLabels": group, "commonLabels": common,
        "commonAnnotations": {}, "externalURL": external, "version": "1",
        "groupKey": f'{{}}/{{__grafana_autogenerated__="true"}}/{{__grafana_receiver__="custody"}}'
                    f':{{alertname="{name}", grafana_folder="{folder}"}}',
        "truncatedAlerts": 0, "title": title.rstrip(),
        "state": "alerting" if firing_alerts else "ok", "message": message,
    }
    return payload, len(alerts)


# --- Zabbix --------------------------------------------------------------------------------------

def _zabbix(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    event = r.randrange(16)
    network = event in (7, 8, 9, 10, 14)
    c = r.random()
    ip = None
    if c < 0.35:
        host = g.device(_SWITCHES if network else _SERVERS + ("PRN-EG-02", "ups-lager-01"))
    elif c < 0.55:
        host = g.other_host(("sw-acc-og2-05", "rtr-werk2") if network else _OTHER_HOSTS)
    elif c < 0.7:
        host = g.fqdn(g.pick(_SWITCHES if network else _NODE_HOSTS))
    elif c < 0.85:
        host = ip = g.ipv4()
    else:
        kind = "Switch" if network else r.choice(("Fileserver", "Drucker", "USV"))
        host = f"{kind} {g.site()}"
    severity = "Average"
    opdata = ""
    extra: list[str] = []
    tags = [{"tag": "scope", "value": "availability"}]
    if event == 15:
        target = g.device(("nas-backup", "FS01")) if g.chance(0.5) else g.other_host()
        share = r.choice(("veeam$", "backup", "daten"))
        name = f"Backup job 'Daily' failed: target \\\\{target}\\{share} is not reachable"
        g.keep("alertname", "Backup job")
        severity = "High"
        tags = [{"tag": "component", "value": "backup"}]
    elif event == 0:
        name, severity = g.keep("alertname", "Unavailable by ICMP ping"), "High"
    elif event == 1:
        name, severity = g.keep("alertname", "High ICMP ping loss"), "Warning"
        opdata = f"Loss: {g.keep('percentage', f'{r.randint(20, 90)} %')}"
    elif event == 2:
        name, severity = g.keep("alertname", "High ICMP ping response time"), "Warning"
        opdata = f"Value: {g.keep('metric', f'{r.uniform(150, 900):.1f}ms')}"
    elif event == 3:
        name = f"Linux: {g.keep('alertname', 'High CPU utilization')} (over " \
               f"{g.keep('threshold', '90%')} for {g.keep('duration', '5m')})"
        severity = "Warning"
        opdata = f"Current utilization: {g.keep('metric', f'{r.uniform(90.1, 99.9):.1f} %')}"
        tags = [{"tag": "scope", "value": "performance"}, {"tag": "component", "value": "cpu"}]
    elif event == 4:
        fs = r.choice(("/", "/var", "/data"))
        name = f"Linux: {fs}: {g.keep('alertname', 'Disk space is critically low')} (used > " \
               f"{g.keep('threshold', '90%')})"
        total = r.choice((50, 100, 200, 500))
        pct = r.uniform(90.1, 99.5)
        opdata = (f"Space used: {g.keep('metric', f'{total * pct / 100:.1f} GB')} of {total} GB "
                  f"({g.keep('percentage', f'{pct:.1f} %')})")
        tags = [{"tag": "component", "value": "storage"}, {"tag": "filesystem", "value": fs}]
    elif event == 5:
        name = f"Linux: {g.keep('alertname', 'Zabbix agent is not available')} " \
               f"(for {g.keep('duration', '3m')})"
    elif event == 6:
        name = f"{r.choice(('Linux', 'Windows'))}: {host} has been restarted (uptime < " \
               f"{g.keep('duration', '10m')})"
        severity = "Warning"
        g.keep("alertname", "has been restarted")
    elif event == 7:
        long, short = g.iface(r.choice(("cisco", "cisco", "mikrotik", "juniper")))
        name = f"Interface {short}({_if_alias(g)}): {g.keep('alertname', 'Link down')}"
        opdata = "Current state: down"
        tags = [{"tag": "component", "value": "network"}, {"tag": "interface", "value": short}]
    elif event == 8:
        long, short = g.iface("cisco")
        name = f"Interface {short}(): {g.keep('alertname', 'High bandwidth usage')} " \
               f"({g.keep('threshold', '>90%')})"
        severity = "Warning"
        opdata = (f"In: {g.keep('metric', f'{r.uniform(900, 999):.1f} Mbps')}, out: "
                  f"{r.uniform(1, 99):.1f} Mbps, speed: 1 Gbps")
    elif event == 9:
        name = f"Cisco IOS: {g.keep('alertname', 'Device has been replaced')} " \
               "(new serial number received)"
        severity = "Information"
        extra.append(f"Inventory: {g.serial()}")
    elif event == 10:
        name = f"Cisco IOS: {g.keep('alertname', 'Firmware has changed')}"
        severity = "Information"
        version = g.keep("version", r.choice(("15.2(7)E8", "15.2(4)M", "17.9.4a", "17.6.5")))
        opdata = (f"Current value: Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), "
                  f"Version {version}, RELEASE SOFTWARE (fc1)")
    elif event == 11:
        name = f"Zabbix agent on {g.other_host()} is unreachable for " \
               f"{g.keep('duration', '5 minutes')}"
        severity = "High"
        g.keep("alertname", "is unreachable for")
    elif event == 12:
        net = f"{r.choice(('10', '192.168'))}.{r.randint(0, 255)}"
        net = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}" if net.startswith("10.") else net
        scope = g.cidr(net)
        pool = g.ip_range(net)
        full = g.keep("percentage", f"{r.randint(90, 99)}%")
        name = f"DHCP scope {scope} ({pool}) is {full} full"
        severity = "High"
        g.keep("alertname", "DHCP scope")
    elif event == 13:
        name = f"HTTP service is down on {g.ipv4() if g.chance(0.5) else g.other_host()}"
        severity = "High"
        g.keep("alertname", "HTTP service is down")
    else:
        index = r.randint(1, 52)
        name = g.keep("alertname", "SNMP trap: linkDown")
        source = ip or g.ipv4()
        ts = g.at()
        opdata = (f"{ts:%Y-%m-%d %H:%M:%S} ZBXTRAP {source}\nPDU INFO:\n  notificationtype TRAP\n"
                  f"  transactionid {r.randint(1, 99999)}\n  receivedfrom UDP: [{source}]:"
                  f"{r.randint(1024, 65535)}->[10.0.0.5]:162\nVARBINDS:\n"
                  f"  .1.3.6.1.6.3.1.1.4.1.0 type=6 value=OID: "
                  f"{g.keep('oid', '.1.3.6.1.6.3.1.1.5.3')}\n"
                  f"  {g.keep('oid', f'.1.3.6.1.2.1.2.2.1.1.{index}')} type=2 value=INTEGER: "
                  f"{index}")
        severity = "Warning"
        g.plant("ipv4", "10.0.0.5")
    g.keep("severity", severity)
    event_id = str(r.randint(100000, 9999999))
    start = g.at(-r.randint(60, 4 * 3600))
    resolved = g.chance(0.3) and event != 14  # trap events are not recovered
    status = r.choice(("RESOLVED", "OK", "Resolved", "ok")) if resolved else \
        r.choice(("PROBLEM", "PROBLEM", "problem"))
    g.keep("status", status)
    if resolved:
        took = g.keep("duration", g.duration())
        end = g.at()
        subject = f"Resolved in {took}: {name}"
        lines = [f"Problem has been resolved at {g.keep('timestamp', f'{end:%H:%M:%S}')} on "
                 f"{g.keep('timestamp', f'{end:%Y.%m.%d}')}", f"Problem name: {name}",
                 f"Problem duration: {took}", f"Host: {host}", f"Severity: {severity}",
                 f"Original problem ID: {event_id}"]
    else:
        subject = f"Problem: {name}"
        lines = [f"Problem started at {g.keep('timestamp', f'{start:%H:%M:%S}')} on "
                 f"{g.keep('timestamp', f'{start:%Y.%m.%d}')}", f"Problem name: {name}",
                 f"Host: {host}", f"Severity: {severity}", f"Operational data: {opdata}",
                 f"Original problem ID: {event_id}"]
    if g.chance(0.35):
        lines.insert(3, f"Host IP: {ip or g.ipv4()}")
    if g.chance(0.25):
        lines.append(f"Location: {g.site()}")
    if g.chance(0.2):
        lines.append(g.contact_line())
    if g.chance(0.15):
        lines.append(g.note())
    lines += extra
    if not extra and g.chance(0.08):
        lines.append(f"Inventory: {g.serial()}")
    if g.chance(0.4):
        lines.append(f"https://zabbix.msp.example/tr_events.php?triggerid={r.randint(10000, 99999)}"
                     f"&eventid={event_id}")
    payload: dict[str, Any] = {"event_id": event_id, "subject": subject,
                               "message": "\n".join(lines), "severity": severity,
                               "status": status, "host": host}
    if g.chance(0.4):
        owner = g.login() if g.chance(0.5) else g.contact()
        payload["tags"] = [*tags, {"tag": "owner", "value": owner}]
    elif g.chance(0.3):
        payload["tags"] = tags
    return payload, 1


# --- generic: monitoring tools -------------------------------------------------------------------

def _librenms(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(_SWITCHES + _SERVERS + ("ups-lager-01", "PRN-EG-02")) if g.chance(0.7) \
        else g.ipv4()
    rule = r.choice(("Devices up/down", "Port status up/down", "Device rebooted",
                     "Storage over 85%", "Processor usage over 85%", "Sensor over limit"))
    g.keep("alertname", rule)
    severity = g.keep("severity", "critical" if "up/down" in rule else "warning")
    recovered = g.chance(0.3)
    ts = g.at()
    stamp = g.keep("timestamp", f"{ts:%Y-%m-%d %H:%M:%S}")
    faults = []
    if rule == "Port status up/down":
        long, short = g.iface(r.choice(("cisco", "cisco", "juniper", "mikrotik")))
        faults.append(f"ifDescr = {long}; ifName = {short}; ifAlias = {_if_alias(g)}; "
                      f"ifOperStatus = down;")
    elif rule == "Devices up/down":
        address = g.fqdn(device) if g.chance(0.5) and device in _DEVICES else g.ipv4()
        sys_name = g.other_host(("sw-acc-og2-05", "rtr-werk2")) if g.chance(0.4) else device
        faults.append(f"hostname = {address}; sysName = {sys_name}; status = 0; "
                      "status_reason = icmp;")
    elif rule == "Device rebooted":
        uptime = g.keep("metric", f"{r.randint(40, 299)}s")
        version = g.keep("version", r.choice(("15.2(7)E8", "17.9.4a", "7.4.1", "6.49.10")))
        faults.append(f"uptime = {uptime}; version = {version}; hardware = WS-C2960X-48FPD-L; "
                      f"{g.serial(r.choice(('serial=', 'S/N: ', 'Serial=')))};")
    elif rule == "Storage over 85%":
        pct = g.keep("percentage", f"{r.randint(86, 99)}%")
        descr = r.choice(("/", "C:\\ Label:  Serial Number 6c2a1f0e", "/volume1"))
        used = g.keep("metric", f"{r.randint(100, 990)} GB")
        faults.append(f"storage_descr = {descr}; storage_perc = {pct[:-1]}; used = {used};")
    elif rule == "Processor usage over 85%":
        faults.append(f"processor_descr = Intel Xeon E-2224; processor_usage = "
                      f"{g.keep('percentage', f'{r.randint(86, 100)}%')};")
    else:
        value = g.keep("metric", f"{r.randint(56, 80)}")
        faults.append(f"sensor_descr = Inlet Temp; sensor_current = {value}; sensor_limit = 55; "
                      f"sensor_oid = {g.keep('oid', '.1.3.6.1.4.1.9.9.13.1.3.1.3.1008')};")
    if recovered:
        title = f"Device {device} recovered from {rule}"
    else:
        title = f"Alert for device {device} - {rule}"
    lines = [title, f"Severity: {severity}"]
    if recovered:
        lines.append(f"Time elapsed: {g.keep('duration', g.duration())}")
    lines += [f"Timestamp: {stamp}", f"Unique-ID: {r.randint(1000, 99999)}", f"Rule: {rule}",
              "Faults:"]
    lines += [f"  #{n}: {fault}" for n, fault in enumerate(faults, 1)]
    lines.append("Alert sent to:")
    person = g.contact()
    lines.append(f"  {person} <{g.email(person)}>")
    if g.chance(0.3):
        lines.append(f"Location: {g.site()}")
    payload = {"source": "librenms", "title": title, "message": "\n".join(lines),
               "host": device, "severity": severity, "state": "0" if recovered else "1",
               "timestamp": stamp, "rule": rule}
    if g.chance(0.4):
        payload["sysName"] = g.fqdn(device) if device in _DEVICES else g.other_host()
    return payload, 1


_NAGIOS_CHECKS: tuple[str, ...] = ("PING", "check_icmp", "Disk /", "HTTP", "Load", "SNMP ifOper",
                                   "OpenManage", "Disk C:", "Procs sshd", "Host")


def _plugin_output(g: _Gen, check: str, address: str, ok: bool = False) -> tuple[str, str, str]:
    """(state, plugin output, command line) in the monitoring-plugins' own formats."""
    r = g.rng
    if check == "PING":
        command = f"check_ping -H {address} -w 100.0,20% -c 500.0,60% -p 5"
        if ok:
            rta = g.keep("metric", f"{r.uniform(0.2, 9):.2f} ms")
            return "OK", f"PING OK - Packet loss = 0%, RTA = {rta}", command
        if g.chance(0.6):
            return "CRITICAL", f"PING CRITICAL - Packet loss = {g.keep('percentage', '100%')}", \
                command
        rta = g.keep("metric", f"{r.uniform(101, 499):.2f} ms")
        return "WARNING", f"PING WARNING - Packet loss = 0%, RTA = {rta}", command
    if check == "check_icmp":
        command = f"check_icmp -H {address} -w 200,40% -c 500,80%"
        if ok:
            rta = g.keep("metric", f"{r.uniform(0.2, 9):.3f}ms")
            return "OK", f"OK - {address}: rta {rta}, lost 0%", command
        lost = g.keep("percentage", f"{r.choice((40, 60, 100))}%")
        rta = "nan" if lost == "100%" else g.keep("metric", f"{r.uniform(200, 900):.3f}ms")
        return "CRITICAL", f"CRITICAL - {address}: rta {rta}, lost {lost}", command
    if check == "Disk /":
        free = r.randint(2000, 6000) if ok else r.randint(120, 990)
        pct = g.keep("percentage", f"{free * 100 // 10240}%")
        g.keep("metric", f"{free} MB")
        state = "OK" if ok else "CRITICAL"
        return state, (f"DISK {state} - free space: / {free} MB ({pct} inode=91%);| "
                       f"/={10240 - free}MB;8192;9216;0;10240"), "check_disk -w 20% -c 10% -p /"
    if check == "HTTP":
        vhost = g.fqdn(g.pick(("intranet", "erp", "owa")))
        command = f"check_http -I {address} -H {vhost} -S -u /"
        seconds = g.keep("metric", f"{r.uniform(0.005, 2.5):.3f}")
        if ok:
            return "OK", (f"HTTP OK: HTTP/1.1 200 OK - {r.randint(2000, 90000)} bytes in "
                          f"{seconds} second response time"), command
        code = g.keep("code", r.choice(("503", "500", "502")))
        text = {"503": "Service Unavailable", "500": "Internal Server Error",
                "502": "Bad Gateway"}[code]
        return "CRITICAL", (f"HTTP CRITICAL: HTTP/1.1 {code} {text} - {r.randint(200, 900)} "
                            f"bytes in {seconds} second response time"), command
    if check == "Load":
        span = (0.1, 3) if ok else (8, 30)
        loads = [g.keep("metric", f"{r.uniform(*span):.2f}") for _ in range(3)]
        state = "OK" if ok else "CRITICAL"
        return state, f"{state} - load average: {', '.join(loads)}", "check_load -w 5,4,3 -c 10,8,6"
    if check == "SNMP ifOper":
        oid = g.keep("oid", f"1.3.6.1.2.1.2.2.1.8.{r.randint(1, 10148)}")
        command = f"check_snmp -H {address} -C public -o {oid} -c 1"
        if ok:
            return "OK", "SNMP OK - 1", command
        return "CRITICAL", "SNMP CRITICAL - *2*", command
    if check == "OpenManage":
        system = f"System: 'PowerEdge R740', {g.serial('SN: ')}"
        if ok:
            return "OK", (f"OK - {system}, 64 GB ram (4 dimms), 2 logical drives, "
                          "6 physical drives"), f"check_openmanage -H {address} -p"
        return "CRITICAL", f"Power Supply 1 [AC]: Failure detected, {system}", \
            f"check_openmanage -H {address} -p"
    if check == "Disk C:":
        used = r.uniform(20, 70) if ok else r.uniform(91, 98)
        pct = g.keep("percentage", f"{round(used / 99.45 * 100)}%")
        state = "OK" if ok else "CRITICAL"
        return state, (f"{state} - C:\\ - total: 99.45 Gb - used: "
                       f"{g.keep('metric', f'{used:.2f} Gb')} ({pct}) - free "
                       f"{99.45 - used:.2f} Gb"), "check_nt -v USEDDISKSPACE -l c -w 80 -c 90"
    if check == "Procs sshd":
        if ok:
            return "OK", "PROCS OK: 1 process with command name 'sshd'", "check_procs -c 1: -C sshd"
        return "CRITICAL", "PROCS CRITICAL: 0 processes with command name 'sshd'", \
            "check_procs -c 1: -C sshd"
    command = f"check_ping -H {address} -w 3000.0,80% -c 5000.0,100% -p 1"
    if ok:
        rta = g.keep("metric", f"{r.uniform(0.2, 9):.2f} ms")
        return "UP", f"PING OK - Packet loss = 0%, RTA = {rta}", command
    return "DOWN", f"CRITICAL - Host Unreachable ({address})", command


def _nagios(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    host = g.device(_SERVERS) if g.chance(0.5) else g.other_host()
    address = g.ipv4() if g.chance(0.8) else g.ipv6(r.choice(("doc", "ula")))
    check = r.choice(_NAGIOS_CHECKS)
    notification = r.choice(("PROBLEM", "PROBLEM", "RECOVERY", "ACKNOWLEDGEMENT"))
    state, output, command = _plugin_output(g, check, address, ok=notification == "RECOVERY")
    g.keep("status", state)
    ts = g.at()
    stamp = g.keep("timestamp", f"{_WEEKDAYS[ts.weekday()]} {_MONTHS[ts.month - 1]} {ts.day} "
                                f"{ts:%H:%M:%S} CET {ts.year}")
    duration = g.keep("duration", f"0d {r.randint(0, 23)}h {r.randint(0, 59)}m {r.randint(0, 59)}s")
    payload: dict[str, Any] = {"source": "nagios", "type": notification, "host": host,
                               "address": address, "state": state, "output": output,
                               "datetime": stamp, "duration": duration}
    if check == "Host":
        body = (f"***** Nagios *****\n\nNotification Type: {notification}\nHost: {host}\n"
                f"State: {state}\nAddress: {address}\nInfo: {output}\n\nDate/Time: {stamp}\n")
        payload["check"] = "host-check"
    else:
        payload["check"] = check
        payload["command"] = command
        body = (f"***** Nagios *****\n\nNotification Type: {notification}\n\nService: {check}\n"
                f"Host: {host}\nAddress: {address}\nState: {state}\n\nDate/Time: {stamp}\n\n"
                f"Additional Info:\n\n{output}")
    if notification == "ACKNOWLEDGEMENT":
        author = g.user()
        body += f"\n\nAcknowledged by {author}: {r.choice(('Ticket opened', 'Known issue'))}"
        payload["author"] = f"by {author}"
    if g.chance(0.3):
        body += f"\n\nContact: {g.contact()} ({g.email()})"
    payload["message"] = body
    return payload, 1


def _icinga(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    host = g.device(_SERVERS) if g.chance(0.5) else g.other_host()
    address = g.ipv4()
    address6 = g.ipv6(r.choice(("doc", "ula", "exploded"))) if g.chance(0.5) else ""
    check = r.choice(("ping4", "disk /", "http", "load", "snmp-int", "dhcp-pool", "hostalive"))
    if check == "dhcp-pool":
        pool = g.ip_range()
        pct = g.keep("percentage", f"{r.randint(91, 99)}%")
        state = "CRITICAL"
        output = f"DHCP CRITICAL - pool {pool} usage {pct} ({r.randint(2, 9)} free)"
        command = f"/usr/lib/nagios/plugins/check_dhcp_pool --pool {pool}"
    elif check == "hostalive":
        state = "DOWN"
        output = f"CRITICAL - {address}: rta nan, lost {g.keep('percentage', '100%')}"
        command = f"/usr/lib/nagios/plugins/check_icmp -H {address}"
    else:
        plugin = {"ping4": "PING", "disk /": "Disk /", "http": "HTTP", "load": "Load",
                  "snmp-int": "SNMP ifOper"}[check]
        state, output, command = _plugin_output(g, plugin, address)
        command = f"/usr/lib/nagios/plugins/{command}"
    g.keep("status", state)
    ts = g.at()
    when = g.keep("timestamp", f"{ts:%Y-%m-%d %H:%M:%S} +0100")
    lines = ["***** Service Monitoring on icinga.msp.example *****", "",
             f"{check} on {host} is {state}!", "", f"Info:    {output}", "", f"When:    {when}",
             f"Service: {check}", f"Host:    {host}", f"IPv4:    {address}"]
    if address6:
        lines.append(f"IPv6:    {address6}")
    if g.chance(0.4):
        author = g.user()
        lines += ["", f"Comment by {author}:", f"  {r.choice(('Known issue', 'ticket opened'))}"]
    if g.chance(0.3):
        lines += ["", g.contact_line()]
    payload = {"source": "icinga2", "check": check, "host_name": host,
               "host_display_name": f"{host} ({g.site()})" if g.chance(0.5) else host,
               "state": state, "output": output, "address": address,
               "command": command.split(" "), "message": "\n".join(lines)}
    if address6:
        payload["address6"] = address6
    return payload, 1


def _prtg(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    ip = g.ipv4()
    style = r.randrange(3)
    if style == 0:
        device = f"{g.device()} ({ip})"
    elif style == 1:
        device = g.fqdn()
    else:
        device = f"{r.choice(('Switch', 'Fileserver', 'Firewall'))} {g.site()} [{g.device()}]"
    sensor = r.choice(("Ping", "Disk Free", "Traffic", "HTTP", "SSL Certificate", "Uptime"))
    if sensor == "Ping":
        code = g.keep("code", r.choice(("11003", "11010")))
        text = "Destination host unreachable" if code == "11003" else "Request timed out"
        status, message, last = "Down", f"{text} (ICMP error # {code})", "No data"
    elif sensor == "Disk Free":
        pct = g.keep("percentage", f"{r.randint(1, 9)} %")
        status = "Down"
        message = (f"{pct} (Free Space C:) is below the error limit of "
                   f"{g.keep('threshold', '10 %')} in Free Space C:")
        last = g.keep("metric", f"{r.randint(100, 990)} MB")
    elif sensor == "Traffic":
        long, _ = g.iface("cisco")
        sensor = f"({r.randint(1, 52):03d}) {long} Traffic"
        value = g.keep("metric", f"{r.randint(801, 990)} Mbit/s")
        status = "Warning"
        message = (f"{value} (Traffic Total) is above the warning limit of "
                   f"{g.keep('threshold', '800 Mbit/s')} in Traffic Total")
        last = value
    elif sensor == "HTTP":
        code = g.keep("code", "10061")
        status, message, last = "Down", f"Connection refused (socket error # {code})", "No data"
    elif sensor == "SSL Certificate":
        days = g.keep("metric", str(r.randint(1, 27)))
        status = "Warning"
        message = (f"{days} # is below the warning limit of 28 # in Days to Expiration "
                   f"(certificate for {g.fqdn(g.pick(('intranet', 'owa', 'vpn')))})")
        last = f"{days} #"
    else:
        status = "Warning"
        message = f"System restarted, uptime {g.keep('duration', f'{r.randint(1, 9)} m')}"
        last = "0 d"
    g.keep("status", status)
    ts = g.at()
    payload = {"sensor": sensor, "device": device, "group": g.site(),
               "probe": r.choice(("Local Probe", "Remote Probe Lager Nord")),
               "status": status, "message": message,
               "down_time": g.keep("duration", r.choice(("3d 4h", "12m", "00:05:00", "1h 2m",
                                                         "5d 7h"))),
               "lastvalue": last,
               "datetime": g.keep("timestamp", f"{ts:%d.%m.%Y %H:%M:%S}"),
               "host": ip, "sensor_id": str(r.randint(2000, 9999))}
    if "Remote Probe Lager Nord" == payload["probe"]:
        g.plant("name", "Lager Nord")
    if g.chance(0.4):
        payload["comments"] = f"Standort {g.site()}, {g.serial()}"
    elif g.chance(0.2):
        payload["comments"] = g.note()
    if g.chance(0.3):
        payload["contact"] = g.contact_line()
    return payload, 1


# --- generic: Windows Security events -----------------------------------------------------------

def _windows(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    event = r.choice(("4625", "4625", "4740", "4771", "4728", "1102"))
    g.keep("code", event)
    dc = g.device(("DC01", "FS01"))
    domain = g.domain()
    workstation = g.other_host(_WORKSTATIONS) if event in ("4625", "4740") else ""
    user = g.user() if event == "4625" else g.login()
    source = "-"
    if event in ("4625", "4771"):
        c = r.random()
        if c < 0.5:
            source = g.ipv4()
        elif c < 0.75:
            source = g.ipv6("mapped")
        elif c < 0.92:
            source = g.ipv6(r.choice(("link", "doc")), zones=("12", "7", "15"))
    if event == "4625":
        status, sub = "0xC000006D", r.choice(("0xC000006A", "0xC0000064", "0xC0000234"))
        g.keep("code", status)
        g.keep("code", sub)
        text = (
            "An account failed to log on.\n\nSubject:\n\tSecurity ID:\t\tNULL SID\n"
            "\tAccount Name:\t\t-\n\tAccount Domain:\t\t-\n\tLogon ID:\t\t0x0\n\n"
            f"Logon Type:\t\t\t{r.choice((3, 10))}\n\nAccount For Which Logon Failed:\n"
            f"\tSecurity ID:\t\tNULL SID\n\tAccount Name:\t\t{user}\n"
            f"\tAccount Domain:\t\t{domain}\n\n"
            "Failure Information:\n\tFailure Reason:\t\tUnknown user name or bad password.\n"
            f"\tStatus:\t\t\t{status}\n\tSub Status:\t\t{sub}\n\nProcess Information:\n"
            "\tCaller Process ID:\t0x0\n\tCaller Process Name:\t-\n\nNetwork Information:\n"
            f"\tWorkstation Name:\t{workstation}\n\tSource Network Address:\t{source}\n"
            f"\tSource Port:\t\t{r.randint(0, 65535)}\n\nDetailed Authentication Information:\n"
            "\tLogon Process:\t\tNtLmSsp \n\tAuthentication Package:\tNTLM\n"
            "\tTransited Services:\t-\n\tPackage Name (NTLM only):\t-\n\tKey Length:\t\t0")
    elif event == "4740":
        text = (
            "A user account was locked out.\n\nSubject:\n\tSecurity ID:\t\tSYSTEM\n"
            f"\tAccount Name:\t\t{dc}$\n\tAccount Domain:\t\t{domain}\n\tLogon ID:\t\t0x3E7\n\n"
            f"Account That Was Locked Out:\n\tSecurity ID:\t\t{domain}\\{user}\n"
            f"\tAccount Name:\t\t{user}\n\nAdditional Information:\n"
            f"\tCaller Computer Name:\t{workstation}")
    elif event == "4771":
        g.keep("code", "0x18")
        text = (
            "Kerberos pre-authentication failed.\n\nAccount Information:\n"
            f"\tSecurity ID:\t\t{domain}\\{user}\n\tAccount Name:\t\t{user}\n\n"
            f"Service Information:\n\tService Name:\t\tkrbtgt/{domain}\n\n"
            f"Network Information:\n\tClient Address:\t\t{source}\n"
            f"\tClient Port:\t\t{r.randint(49152, 65535)}\n\nAdditional Information:\n"
            "\tTicket Options:\t\t0x40810010\n\tFailure Code:\t\t0x18\n"
            "\tPre-Authentication Type:\t2")
    elif event == "4728":
        admin = g.login()
        member = g.contact()
        text = (
            "A member was added to a security-enabled global group.\n\nSubject:\n"
            f"\tSecurity ID:\t\t{domain}\\{admin}\n\tAccount Name:\t\t{admin}\n"
            f"\tAccount Domain:\t\t{domain}\n\tLogon ID:\t\t0x{r.getrandbits(24):X}\n\nMember:\n"
            f"\tSecurity ID:\t\t{domain}\\{user}\n"
            f"\tAccount Name:\t\tCN={member},OU=Users,OU={g.site()},DC=muster,DC=lan\n\n"
            "Group:\n\tSecurity ID:\t\tMUSTER\\Domain Admins\n\tGroup Name:\t\tDomain Admins\n"
            f"\tGroup Domain:\t\t{domain}")
    else:
        text = (
            "The audit log was cleared.\nSubject:\n"
            f"\tSecurity ID:\t{domain}\\{user}\n\tAccount Name:\t{user}\n"
            f"\tDomain Name:\t{domain}\n\tLogon ID:\t0x{r.getrandbits(24):X}")
    host = g.fqdn(dc) if g.chance(0.5) else dc
    ts = g.at()
    payload: dict[str, Any] = {
        "source": "winlogbeat", "event.code": event,
        "event.provider": "Microsoft-Windows-Security-Auditing" if event != "1102"
        else "Microsoft-Windows-Eventlog",
        "winlog.channel": "Security", "host.name": host,
        "@timestamp": g.keep("timestamp", g.iso(ts, 3)),
        "log.level": "information", "message": text}
    if event in ("4625", "4740") and user in _LOGINS and g.chance(0.6):
        payload["winlog.event_data.TargetUserName"] = user
        payload["winlog.event_data.WorkstationName"] = workstation
    return payload, 1


# --- generic: vendor syslog ----------------------------------------------------------------------

def _syslog(g: _Gen, vendor: str, sender: str, line: str, facility: str,
            level: str) -> dict[str, Any]:
    return {"source": "syslog", "vendor": vendor, "host": sender, "facility": facility,
            "severity": g.keep("severity", level), "received": g.iso(g.at(), 3), "message": line}


def _sender(g: _Gen, pool: tuple[str, ...]) -> str:
    c = g.rng.random()
    if c < 0.5:
        return g.device(pool)
    if c < 0.8:
        return g.ipv4()
    return g.fqdn(g.pick(pool))


def _cisco_ios(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(_SWITCHES)
    ts = g.at()
    stamp = f"{_MONTHS[ts.month - 1]} {ts.day} {ts:%H:%M:%S}.{r.randint(0, 999):03d}"
    g.keep("timestamp", stamp)
    event = r.randrange(14)
    level = "notice"
    if event in (0, 1):
        long, _ = g.iface("cisco")
        state = r.choice(("down", "up"))
        if event == 0:
            code, text, level = "%LINK-3-UPDOWN", f"Interface {long}, changed state to {state}", \
                "error"
        else:
            code, text = "%LINEPROTO-5-UPDOWN", \
                f"Line protocol on Interface {long}, changed state to {state}"
    elif event == 2:
        who = g.user()
        code, text = "%SYS-5-CONFIG_I", f"Configured from console by {who} on vty0 ({g.ipv4()})"
    elif event == 3:
        code, level = "%SEC_LOGIN-4-LOGIN_FAILED", "warning"
        text = (f"Login failed [user: {g.user()}] [Source: {g.ipv4()}] [localport: 22] "
                f"[Reason: Login Authentication Failed] at {ts:%H:%M:%S} UTC "
                f"{_WEEKDAYS[ts.weekday()]} {_MONTHS[ts.month - 1]} {ts.day} {ts.year}")
    elif event == 4:
        code = "%SEC_LOGIN-5-LOGIN_SUCCESS"
        src = g.ipv4() if g.chance(0.7) else g.ipv6("doc")
        text = (f"Login Success [user: {g.user()}] [Source: {src}] [localport: 22] at "
                f"{ts:%H:%M:%S} UTC {_WEEKDAYS[ts.weekday()]} {_MONTHS[ts.month - 1]} {ts.day} "
                f"{ts.year}")
    elif event == 5:
        long, _ = g.iface("cisco")
        code = "%DUAL-5-NBRCHANGE"
        text = (f"EIGRP-IPv4 100: Neighbor {g.ipv4()} ({long}) is down: "
                f"{r.choice(('holding time expired', 'interface down', 'peer restarted'))}")
    elif event == 6:
        code = "%BGP-5-ADJCHANGE"
        peer = g.ipv4(public=g.chance(0.3)) if g.chance(0.8) else g.ipv6("doc")
        change = r.choice(("Down BGP Notification sent", "Up", "Down Peer closed the session"))
        text = f"neighbor {peer} {change}"
    elif event == 7:
        long, _ = g.iface("cisco")
        code = "%OSPF-5-ADJCHG"
        text = (f"Process 1, Nbr {g.ipv4()} on {long} from FULL to DOWN, Neighbor Down: "
                "Dead timer expired")
    elif event == 8:
        _, one = g.iface("cisco")
        _, two = g.iface("cisco")
        vlan = r.choice((10, 20, 42, 100))
        code, level = "%SW_MATM-4-MACFLAP_NOTIF", "warning"
        text = (f"Host {g.mac('cisco')} in vlan {vlan} is flapping between port {one} and "
                f"port {two}")
    elif event == 9:
        long, _ = g.iface("cisco")
        code, level = "%PORT_SECURITY-2-PSECURE_VIOLATION", "critical"
        text = (f"Security violation occurred, caused by MAC address {g.mac('cisco')} on port "
                f"{long}.")
    elif event == 10:
        version = g.keep("version", r.choice(("15.2(7)E8", "15.2(4)M", "15.2(4)E10")))
        code = "%SYS-5-RESTART"
        text = (f"System restarted --\nCisco IOS Software, C2960X Software "
                f"(C2960X-UNIVERSALK9-M), Version {version}, RELEASE SOFTWARE (fc1)")
    elif event == 11:
        long, _ = g.iface("cisco")
        other_long, _ = g.iface("cisco")
        code, level = "%CDP-4-DUPLEX_MISMATCH", "warning"
        text = (f"duplex mismatch discovered on {long} (not full duplex), with "
                f"{g.device(_SWITCHES)} {other_long} (full duplex).")
    elif event == 12:
        code = "%SSH-5-SSH2_USERAUTH"
        text = (f"User '{g.user()}' authentication for SSH2 Session from {g.ipv4()} (tty = 0) "
                "using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Failed")
    else:
        code, level = "%DHCP_SNOOPING-5-DHCP_SNOOPING_UNTRUSTED_PORT", "notice"
        long, _ = g.iface("cisco")
        text = (f"DHCP_SNOOPING drop message on untrusted port, message type: DHCPOFFER, "
                f"MAC sa: {g.mac('cisco')}")
    g.keep("code", code)
    seq = r.randint(100, 999999)
    line = f"{g.syslog_ts(ts)} {device} {seq}: *{stamp}: {code}: {text}"
    g.keep("timestamp", g.syslog_ts(ts))
    sender = _sender(g, (device,))
    return _syslog(g, "cisco", sender, line, "local7", level), 1


def _cisco_nxos(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(("nx-dc-01",))
    ts = g.at()
    stamp = g.keep("timestamp", f"{ts.year} {_MONTHS[ts.month - 1]} {ts.day:2d} {ts:%H:%M:%S}")
    event = r.randrange(7)
    level = "notice"
    if event == 0:
        long, _ = g.iface("nxos")
        code, text = "%ETHPORT-5-IF_DOWN_LINK_FAILURE", f"Interface {long} is down (Link failure)"
    elif event == 1:
        long, _ = g.iface("nxos")
        code, text = "%ETHPORT-5-IF_UP", \
            f"Interface {long} is up in mode {r.choice(('access', 'trunk'))}"
    elif event == 2:
        code, level = "%AUTHPRIV-3-SYSTEM_MSG", "error"
        text = (f"pam_aaa:Authentication failed for user {g.user()} from {g.ipv4()} - "
                f"sshd[{r.randint(1000, 32000)}]")
    elif event == 3:
        code = "%BGP-5-ADJCHANGE"
        text = (f"bgp-65001 [{r.randint(1000, 32000)}] (default) neighbor {g.ipv4()} Down - "
                "holdtimer expired error")
    elif event == 4:
        code = "%VSHD-5-VSHD_SYSLOG_CONFIG_I"
        text = f"Configured from vty by {g.user()} on {g.ipv4()}@pts/{r.randint(0, 5)}"
    elif event == 5:
        code, level = "%VPC-2-PEER_KEEP_ALIVE_RECV_FAIL", "critical"
        text = f"In domain {r.randint(1, 99)}, VPC peer keep-alive receive has failed"
    else:
        long, _ = g.iface("nxos")
        code = "%ETHPORT-5-SPEED"
        text = f"Interface {long}, operational speed changed to 10 Gbps"
    g.keep("code", code)
    line = f"{stamp} {device} {code}: {text}"
    payload = _syslog(g, "cisco-nxos", _sender(g, (device,)), line, "local7", level)
    if g.chance(0.3):
        payload["os_version"] = g.keep("version", r.choice(("9.3(10)", "10.2(5)", "9.3(8)")))
    return payload, 1


def _juniper(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(("ex-werk2-01",))
    ts = g.at()
    stamp = g.keep("timestamp", g.syslog_ts(ts))
    event = r.randrange(6)
    level = "notice"
    if event == 0:
        long, _ = g.iface("juniper")
        state = r.choice(("DOWN", "UP"))
        code = f"SNMP_TRAP_LINK_{state}"
        oper = "down(2)" if state == "DOWN" else "up(1)"
        level = "warning" if state == "DOWN" else "info"
        text = (f"mib2d[{r.randint(1000, 9999)}]: {code}: ifIndex {r.randint(500, 600)}, "
                f"ifAdminStatus up(1), ifOperStatus {oper}, ifName {long}")
    elif event == 1:
        code = "UI_LOGIN_EVENT"
        pid = r.randint(10000, 99999)
        text = (f"mgd[{pid}]: {code}: User '{g.user()}' login, class 'j-super-user' [{pid}], "
                f"ssh-connection '{g.ipv4()} {r.randint(40000, 65000)} {g.ipv4()} 22', "
                "client-mode 'cli'")
    elif event == 2:
        code = "RPD_BGP_NEIGHBOR_STATE_CHANGED"
        peer = g.ipv4() if g.chance(0.7) else g.ipv6("doc")
        text = (f"rpd[{r.randint(1000, 9999)}]: {code}: BGP peer {peer} (External AS "
                f"{r.randint(64512, 65534)}) changed state from Established to Idle "
                "(event RecvNotify) (instance master)")
    elif event == 3:
        code, level = "SSHD_LOGIN_FAILED", "warning"
        text = (f"sshd[{r.randint(1000, 99999)}]: {code}: Login failed for user "
                f"'{g.user()}' from host '{g.ipv4()}'")
    elif event == 4:
        code = "UI_COMMIT"
        text = (f"mgd[{r.randint(1000, 99999)}]: {code}: User '{g.user()}' requested 'commit' "
                "operation (comment: none)")
    else:
        code = "LLDP_NEIGHBOR_UP"
        long, _ = g.iface("juniper")
        text = (f"l2cpd[{r.randint(1000, 9999)}]: {code}: LLDP Neighbor Up on {long} with "
                f"Neighbor Chassis-ID {g.mac('colon')}, Port-ID {r.randint(1, 48)}, "
                f"System name: {g.other_host(('sw-acc-og2-05', 'rtr-werk2'))}")
    g.keep("code", code)
    line = f"{stamp}  {device} {text}"
    payload = _syslog(g, "juniper", _sender(g, (device,)), line, "daemon", level)
    if g.chance(0.3):
        payload["os_version"] = g.keep("version", r.choice(("22.4R3-S2", "21.4R3-S5", "23.2R1")))
    return payload, 1


def _fortinet(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(("FGT-Zentrale", "fw-zentrale"))
    devid = f"FGT60ETK18{r.randint(100000, 999999)}"
    ts = g.at()
    date, time = f"{ts:%Y-%m-%d}", f"{ts:%H:%M:%S}"
    g.keep("timestamp", date)
    g.keep("timestamp", time)
    head = (f'date={date} time={time} devname="{device}" devid="{devid}" '
            f"eventtime={int(ts.timestamp()) * 10**9 + r.randint(0, 10**9 - 1)} tz=\"+0100\"")
    event = r.randrange(5)
    if event == 0:
        user = r.choice(_LOGINS + _OTHER_USERS + ("admin1",))
        g.plant("username", user)
        src = g.ipv4()
        logid, level = "0100032002", "alert"
        body = (f'logid="{logid}" type="event" subtype="system" level="{level}" vd="root" '
                f'logdesc="Admin login failed" sn="0" user="{user}" ui="https({src})" '
                f'method="https" srcip={src} dstip={g.ipv4()} action="login" status="failed" '
                f'reason="passwd_invalid" msg="Administrator {user} login failed from '
                f'https({src}) because of invalid password"')
    elif event == 1:
        logid, level = "0101039426", "alert"
        user = g.user()
        body = (f'logid="{logid}" type="event" subtype="vpn" level="{level}" vd="root" '
                f'logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" '
                f'tunnelid=0 remip={g.ipv4(public=g.chance(0.5))} tunnelip=(null) user="{user}" '
                f'group="N/A" dst_host="N/A" reason="sslvpn_login_permission_denied" '
                f'msg="SSL user failed to logged in"')
    elif event == 2:
        logid, level = "0100022932", "warning"
        iface, _ = g.iface("fortinet")
        body = (f'logid="{logid}" type="event" subtype="system" level="{level}" vd="root" '
                f'logdesc="Link monitor status warning" name="{iface}-mon" interface="{iface}" '
                f'probeproto="ping" msg="Link Monitor changed state from alive to dead, '
                f'protocol: ping."')
    elif event == 3:
        logid, level = "0100026001", "information"
        iface, _ = g.iface("fortinet")
        body = (f'logid="{logid}" type="event" subtype="system" level="{level}" vd="root" '
                f'logdesc="DHCP Ack log" interface="{iface}" dhcp_msg="Ack" '
                f'mac="{g.mac(r.choice(("upper", "colon")))}" ip={g.ipv4()} lease=86400 '
                f'hostname="{g.other_host(_WORKSTATIONS)}" msg="DHCP server sends a DHCPACK"')
    else:
        logid, level = "0419016384", "alert"
        body = (f'logid="{logid}" type="utm" subtype="ips" eventtype="signature" level="{level}" '
                f'vd="root" severity="critical" srcip={g.ipv4()} srcport={r.randint(1024, 65535)} '
                f'srcintf="internal" dstip={g.ipv4(public=True)} dstport=443 dstintf="wan1" '
                f'sessionid={r.randint(10**6, 10**7)} action="dropped" proto=6 service="HTTPS" '
                f'attack="Backdoor.Cobalt.Strike.Beacon" user="{g.user()}" '
                f'msg="backdoor: Backdoor.Cobalt.Strike.Beacon"')
        g.keep("interface", "wan1")
    g.keep("code", logid)
    g.keep("severity", level)
    line = f"{head} {body}"
    payload = {"source": "fortigate", "host": _sender(g, (device,)), "message": line}
    if g.chance(0.25):
        payload["firmware"] = g.keep("version", r.choice(("v7.4.1", "v7.2.8", "v7.0.15")))
    return payload, 1


def _mikrotik(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(("mt-gw-werk2",))
    ts = g.at()
    stamp = g.keep("timestamp", g.syslog_ts(ts))
    event = r.randrange(7)
    if event == 0:
        user = r.choice(("admin", "root", *_OTHER_USERS))
        g.plant("username", user)
        text = (f"system,error,critical login failure for user {user} from {g.ipv4()} via "
                f"{r.choice(('ssh', 'winbox', 'api', 'web'))}")
        level = "critical"
    elif event == 1:
        text = f"system,info,account user {g.login()} logged in from {g.ipv4()} via winbox"
        level = "info"
    elif event == 2:
        iface, _ = g.iface("mikrotik")
        text = f"interface,info {iface} link {r.choice(('down', 'up (speed 1G, full duplex)'))}"
        level = "info"
    elif event == 3:
        verb = r.choice(("assigned", "deassigned"))
        prep = "to" if verb == "assigned" else "from"
        text = f"dhcp,info dhcp1 {verb} {g.ipv4()} {prep} {g.mac(r.choice(('upper', 'colon')))}"
        level = "info"
    elif event == 4:
        text = (f"wireless,info {g.mac('upper')}@{g.keep('interface', 'wlan1')}: connected, "
                f"signal strength {g.keep('metric', f'-{r.randint(50, 85)}')}")
        level = "info"
    elif event == 5:
        iface, _ = g.iface("mikrotik")
        src, dst = g.ipv4(public=True), g.ipv4()
        text = (f"firewall,info input: in:{iface} out:(unknown 0), src-mac "
                f"{g.mac('colon')}, proto TCP (SYN), {src}:{r.randint(1024, 65535)}->{dst}:22, "
                "len 60")
        level = "info"
    else:
        version = g.keep("version", r.choice(("6.49.10", "7.12.1", "7.15.3")))
        text = f"system,info,critical router rebooted, RouterOS {version}"
        level = "critical"
    line = f"{stamp} {device} {text}"
    return _syslog(g, "mikrotik", _sender(g, (device,)), line, "user", level), 1


def _paloalto(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    device = g.device(("pa-edge-01",))
    serial = f"0132010{r.randint(10000, 99999)}"
    ts = g.at()
    stamp = g.keep("timestamp", f"{ts:%Y/%m/%d %H:%M:%S}")
    seq = r.randint(10**6, 10**8)
    event = r.randrange(4)
    if event == 0:
        user = g.user()
        description = (f"failed authentication for user '{user}'. Reason: Invalid username/"
                       f"password. From: {g.ipv4()}.")
        line = (f"1,{stamp},{serial},SYSTEM,auth,0,{stamp},,auth-fail,,0,0,general,"
                f"{g.keep('severity', 'medium')},\"{description}\",{seq},0x0,0,0,0,0,,{device}")
        g.keep("code", "auth-fail")
    elif event == 1:
        user = g.login()
        description = f"User {user} logged in via Web from {g.ipv4()} using https"
        line = (f"1,{stamp},{serial},SYSTEM,general,0,{stamp},,general,,0,0,general,"
                f"{g.keep('severity', 'informational')},\"{description}\",{seq},0x0,0,0,0,0,,"
                f"{device}")
    elif event == 2:
        iface, _ = g.iface("paloalto")
        description = f"HA Group 1: Link change to down on {iface}"
        line = (f"1,{stamp},{serial},SYSTEM,ha,0,{stamp},,ha-link-change,,0,0,general,"
                f"{g.keep('severity', 'high')},\"{description}\",{seq},0x0,0,0,0,0,,{device}")
        g.keep("code", "ha-link-change")
    else:
        src, dst = g.ipv4(), g.ipv4(public=True)
        user = f"{g.plant('hostname', _DOMAIN.lower())}\\{g.login()}"
        one, _ = g.iface("paloalto")
        two, _ = g.iface("paloalto")
        sport = r.randint(1024, 65535)
        line = (f"1,{stamp},{serial},THREAT,vulnerability,2561,{stamp},{src},{dst},0.0.0.0,"
                f"0.0.0.0,Allow-Outbound,{user},,web-browsing,vsys1,trust,untrust,{one},{two},"
                f"Log-Forwarding,{stamp},{r.randint(10000, 99999)},1,{sport},80,0,0,0x2000,tcp,"
                f"reset-both,\"evil.example.org/cgi-bin/x.php\",HTTP Directory Traversal "
                f"Vulnerability(30844),any,{g.keep('severity', 'critical')},client-to-server,"
                f"{seq},0x0,10.0.0.0-10.255.255.255,United States,0,,0,,,0,,,,,,,,0,0,0,0,0,,"
                f"{device}")
        g.keep("code", "30844")
    payload = {"source": "panos", "host": _sender(g, (device,)), "message": line}
    if g.chance(0.3):
        payload["sw_version"] = g.keep("version", r.choice(("10.2.3-h4", "11.1.2-h3", "10.1.11")))
    return payload, 1


def _ubiquiti(g: _Gen) -> tuple[dict[str, Any], int]:
    r = g.rng
    ts = g.at()
    if g.chance(0.5):
        device = g.device(("ap-lager-01",))
        mac = g.mac("bare_lower")
        version = g.keep("version", r.choice(("v6.5.55.14277", "v6.6.77.15402", "v4.3.20.11298")))
        stamp = g.keep("timestamp", g.syslog_ts(ts))
        model = r.choice(("U7PG2", "U6-Pro", "U6-LR", "UAL6"))
        station = g.mac("colon")
        text = r.choice((f"hostapd: ath0: STA {station} IEEE 802.11: associated",
                         f"hostapd: ath1: STA {station} IEEE 802.11: disassociated",
                         f"kernel: [{r.randint(1000, 9999)}.{r.randint(100000, 999999)}] "
                         f"{station} deauth reason 4"))
        line = f"{stamp} {device} {model},{mac},{version}: {text}"
        return _syslog(g, "ubiquiti", _sender(g, (device,)), line, "user", "info"), 1
    event = r.randrange(5)
    ap = g.mac("colon")
    if event == 0:
        key, msg = "EVT_AP_Lost_Contact", f"AP[{ap}] was disconnected"
    elif event == 1:
        key = "EVT_WU_Disconnected"
        client = g.mac("colon")
        took = g.keep("duration", f"{r.randint(1, 9)}h {r.randint(1, 59)}m")
        msg = (f"User[{client}] disconnected from \"Office-5G\" ({took} connected, "
               f"{g.keep('metric', f'{r.uniform(1, 900):.1f}MB')})")
    elif event == 2:
        key = "EVT_AD_Login"
        msg = f"Admin[{g.login()}] log in from {g.ipv4()}"
    elif event == 3:
        old = g.keep("version", "6.5.28")
        new = g.keep("version", r.choice(("6.5.55", "6.6.77")))
        key, msg = "EVT_AP_Upgraded", f"AP[{ap}] was upgraded from \"{old}\" to \"{new}\""
    else:
        key = "EVT_GW_WANTransition"
        msg = (f"Gateway[{ap}] WAN Transition: WAN ({g.keep('interface', 'eth8')}) is down, "
               f"failover to {g.ipv4(public=True)}")
    g.keep("code", key)
    payload = {"source": "unifi", "key": key, "msg": msg, "ap": ap,
               "ap_name": g.device(("ap-lager-01",)) if g.chance(0.6) else
               g.other_host(("ap-og2-flur", "ap-kantine")),
               "site_name": "default" if g.chance(0.6) else g.site(),
               "datetime": g.keep("timestamp", g.iso(ts, 0)),
               "subsystem": "wlan" if "AP" in key or "WU" in key else "lan"}
    return payload, 1


_GENERATORS: dict[str, Callable[[_Gen], tuple[dict[str, Any], int]]] = {
    "node_exporter": _node_exporter, "blackbox": _blackbox, "snmp_exporter": _snmp_exporter,
    "grafana": _grafana, "zabbix": _zabbix, "librenms": _librenms, "nagios": _nagios,
    "icinga": _icinga, "prtg": _prtg, "windows": _windows, "cisco_ios": _cisco_ios,
    "cisco_nxos": _cisco_nxos, "juniper": _juniper, "fortinet": _fortinet,
    "mikrotik": _mikrotik, "paloalto": _paloalto, "ubiquiti": _ubiquiti,
}


def generate(count: int, seed: int = TUNING_SEED) -> list[Sample]:
    """count samples, deterministic for a seed; every system appears once the count allows."""
    rng = random.Random(seed)
    systems = list(SYSTEMS)
    rng.shuffle(systems)
    weights = [WEIGHTS[s] for s in SYSTEMS]
    samples = []
    for n in range(count):
        system = systems[n] if n < len(systems) else rng.choices(SYSTEMS, weights)[0]
        g = _Gen(random.Random(rng.getrandbits(64)))
        payload, alerts = _GENERATORS[system](g)
        samples.append(g.sample(system, payload, alerts))
    return samples


# --- the Grafana fixture -------------------------------------------------------------------------

GRAFANA_WEBHOOK_PLANTED: tuple[tuple[str, str], ...] = (
    ("fqdn", "grafana.muster.example"), ("fqdn", "wiki.muster.example"),
    ("ipv4", "10.20.30.41"), ("ipv4", "10.20.30.42"), ("ipv4", "192.168.40.17"),
    ("hostname", "FS01"), ("hostname", "web03"), ("name", "Lager Nord"),
    ("name", "Anna Schmidt"), ("phone", "+49 30 1234567"),
)
GRAFANA_WEBHOOK_SURVIVE: tuple[tuple[str, str], ...] = (
    ("alertname", "High memory usage"), ("alertname", "High CPU usage"),
    ("status", "firing"), ("status", "alerting"), ("metric", "44.23943737541908"),
    ("threshold", "> 90"), ("timestamp", "2021-10-12T09:51:03.157076+02:00"),
    ("timestamp", "2021-10-12T09:56:03.157076+02:00"), ("percentage", "93%"),
)


def grafana_webhook() -> Sample:
    """tests/alerts/grafana_webhook.json, with the identifiers substituted into Grafana's
    documented example payload."""
    payload = json.loads(GRAFANA_FIXTURE.read_text(encoding="utf-8"))
    return Sample("grafana", "grafana", payload, GRAFANA_WEBHOOK_PLANTED,
                  GRAFANA_WEBHOOK_SURVIVE, len(payload["alerts"]))


def _counts(samples: list[Sample]) -> Iterator[str]:
    systems = Counter(s.system for s in samples)
    alerts = Counter[str]()
    for s in samples:
        alerts[s.system] += s.alerts
    planted = Counter(kind for s in samples for kind, _ in s.planted)
    survive = Counter(cls for s in samples for cls, _ in s.survive)
    yield f"  samples {len(samples)}, alerts {sum(s.alerts for s in samples)}"
    for system in SYSTEMS:
        yield f"  {system:14} {systems[system]:4} samples {alerts[system]:5} alerts"
    yield "  planted: " + ", ".join(f"{k} {planted[k]}" for k in IDENTIFIER_KINDS)
    yield "  survive: " + ", ".join(f"{c} {survive[c]}" for c in SURVIVE_CLASSES)


if __name__ == "__main__":
    for label, seed in (("tuning", TUNING_SEED), ("held-out", HELDOUT_SEED)):
        print(f"generate(600, seed={seed}) [{label}]")
        for row in _counts(generate(600, seed)):
            print(row)
