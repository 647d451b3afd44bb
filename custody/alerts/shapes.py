"""Shapes that stay readable in alert text, and what a field's name says about its value.

Both are the narrow, tested list the scanner trusts (DESIGN §4, P5): anything that
is not one of these shapes and looks like an identifier is replaced.
"""

from __future__ import annotations

import re

from custody.alerts.vocabulary import FIELD_WORDS, NOT_NAMES

# Vendor interface grammars: Cisco, Juniper, Linux, FortiOS, MikroTik, PAN-OS, Ubiquiti,
# Huawei/Comware, and terminal lines. Always readable, even after a host marker.
INTERFACE = re.compile(
    r"(?i)(?:(?:"
    r"(?:fast|gigabit|twogigabit|fivegigabit|tengigabit|twentyfivegig[a-z]*|fortygigabit"
    r"|hundredgig[a-z]*|fourhundredgig[a-z]*)?ethernet|gi|gig|fa|te|tw|twe|fo|hu|eth|et"
    r"|po|port-channel|vl|vlan|vlanif|lo|loopback|tu|tunnel|se|serial|bdi|bvi|nve|mgmt|ma"
    r"|mgmteth|dialer|di|virtual-access|virtual-template|cellular|null|ge|xe|fe|ae|irb|em"
    r"|fxp|me|vme|reth|st|gr|lt|so|ens|enp|eno|enx|eth|bond|br|bridge|wlan|wlp|veth|tun|tap"
    r"|docker|virbr|port|wan|lan|dmz|internal|ether|sfp|sfpplus|sfp-sfpplus|combo|pppoe-out"
    r"|ath|wifi|ra|switch|vty|con|aux|tty|pts|meth|xgigabitethernet|gigabitethernet|eth-trunk"
    r"|ten-gigabitethernet|bagg|ragg|nic|mgmt-eth|fc|vfc|npu|ssl\.root|tunnel\."
    r"|loopback\.|vlan\.|ae\.|ethernet\."
    r")[-.]?\d+(?:[/:.]\d+)*(?:[sfpn]\d+)*(?:\.\d+)?(?::\d+)?|"
    r"(?:lo|eth|wan|lan|dmz|internal|mgmt|ha|bridge|br|switch|ether|wlan)\d*|"
    r"(?:ssl\.root|any|loopback)"
    r")")
DISK = re.compile(r"(?:/dev/)?(?:sd[a-z]{1,2}\d*|nvme\d+n\d+(?:p\d+)?|vd[a-z]\d*|xvd[a-z]\d*|hd[a-z]\d*"
                  r"|dm-\d+|md\d+|loop\d+|mmcblk\d+(?:p\d+)?|[a-z]:)", re.I)
NUMBER = re.compile(r"[-+~<>=]*\d+(?:[.,]\d+)*(?:e[-+]?\d+)?"
                    r"(?:%|[a-z\u00b5\u00b0]{1,6}(?:/[a-z]{1,3})?)?", re.I)
DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|us|ns|[wdhms]))+|\d{1,3}:\d{2}(?::\d{2})?(?:\.\d+)?", re.I)
TIMESTAMP = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?|\d{1,2}[./]\d{1,2}[./]\d{2,4}", re.I)
VERSION = re.compile(r"v?\d+(?:\.\d+)+[a-z]?(?:\(\d+[a-z]?\)[a-z0-9]*)?(?:[-+_][\w.]+)?", re.I)
CODE = re.compile(
    r"%[A-Z0-9_]+(?:-[A-Z0-9_]+)*-\d+-[A-Z0-9_]+"   # Cisco %FACILITY-SEVERITY-MNEMONIC
    r"|0[xX][0-9A-Fa-f]+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"  # 0xC000006A, SNMP_TRAP_LINK_DOWN
    r"|\d+(?:\.\d+){4,}|[A-Za-z][\w-]*::[\w.]+")     # OIDs, IF-MIB::ifOperStatus
_TOKEN = re.compile(r"(?:ip|host|mac|email|phone|serial|user|name|site|device|url|group)-[0-9a-f]{8}"
                    r"|(?:group|event)-[0-9a-f]{12,16}|ip-[0-9a-f.:]+")
_SAFE = (INTERFACE, DISK, NUMBER, DURATION, TIMESTAMP, VERSION, CODE)


def is_token(word: str) -> bool:
    """Whether ``word`` is one of our own pseudonyms (so a second pass leaves it alone)."""
    return _TOKEN.fullmatch(word) is not None


def field_name(key: str) -> bool:
    """Whether a JSON key reads as a field name (``host.name``, ``@timestamp``), not as a host."""
    parts = key.lstrip("@").split(".")
    first = parts[0].lower()
    return len(parts) > 1 and (first in FIELD_WORDS or first in NOT_NAMES) \
        and all(p.replace("_", "").isalnum() and not p[:1].isdigit() for p in parts)


def readable_shape(word: str) -> bool:
    """Whether ``word`` has a shape that must stay readable (and never names anyone)."""
    return word.startswith("/") or is_token(word) or any(p.fullmatch(word) for p in _SAFE)


# What a field's name says about its value. Names are matched by pattern (split at
# case changes, '_', '-', '.', spaces), so devname, srcUser, "Account Name" and
# source_network_address all count.
_NOT_IDENTIFYING = re.compile(
    r"alert|rule|trigger|problem|event|metric|item|check|job|severity|status|state|type|"
    r"interface|intf|(?:^|_)if(?:_|$)|ifname|ifdescr|ifalias|ifindex|descr|port|vlan|zone|policy|action|level|proto|"
    r"service|sensor|summary|description|message|subject|title|unit|threshold|duration|time|"
    r"date|version|code|oid|count|reason|category|receiver|fingerprint|mount|fstype|mode|"
    r"country|value|operational|opdata|(?:^|_)id$|^id(?:_|$)|uuid|label|annotation|expr|query|panel|"
    r"dashboard|silence|image|url|link|runbook|language|locale|charset|format|method")
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"e_?mail|^mail|_mail")),
    ("phone", re.compile(r"phone|(?:^|_)tel(?:$|_)|mobile|msisdn|fax|(?:^|_)cell(?:$|_)")),
    ("mac", re.compile(r"(?:^|_|src|dst)mac(?!hine)|hwaddr|lladdr|bssid|ether(?:net)?_?addr")),
    ("serial", re.compile(r"serial|(?:^|_)sn(?:$|_)|devid|chassis_?id|service_?tag|asset")),
    ("user", re.compile(r"user|login|logon|account|owner|member|person|contact|operator|author"
                        r"|principal|(?:^|_)uid(?:$|_)|(?:^|_)upn|sam_?account|(?:^|_)by(?:$|_)")),
    ("ip", re.compile(r"(?:^|_|src|dst|rem|remote|local|peer|nat|trans|client|server|source"
                      r"|dest|target|gw|gateway|next_?hop)ip(?:$|_|v[46]|addr)|addr|address")),
    ("site", re.compile(r"site|location|building|room|rack|city|street|region|floor|campus")),
    ("name", re.compile(r"customer|client|tenant|company|organi[sz]ation|(?:^|_)org(?:$|_)")),
    ("host", re.compile(r"host|node|sys|computer|device|dev|source|src|target|dst|dest|printer"
                        r"|server|workstation|machine|instance|fqdn|domain|peer|neighbou?r|name"
                        r"|(?:^|_)pod|container|(?:^|_)vm|cluster|switch|router|gateway|(?:^|_)gw"
                        r"|endpoint|agent|(?:^|_)ap(?:$|_)|controller|caller|origin|from|(?:^|_)to$"
                        r"|nas|sender|recipient")),
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[-\s/]+")
_key_cache: dict[str, str | None] = {}


def key_kind(key: str, extra: dict[str, str] | None = None) -> str | None:
    """The identifier kind a field named ``key`` holds, or None for a readable field."""
    if extra and key in extra:
        return extra[key]
    cached = _key_cache.get(key, "?")
    if cached != "?":
        return cached
    # What a dotted field name (host.name, winlog.event_data.WorkstationName) holds is
    # said by its last part.
    words = _CAMEL.sub("_", key.strip().rsplit(".", 1)[-1]).lower().strip("_")
    kind: str | None = None
    if words and not _NOT_IDENTIFYING.search(words):
        kind = next((k for k, pattern in _KINDS if pattern.search(words)), None)
    if len(_key_cache) < 10_000:
        _key_cache[key] = kind
    return kind
