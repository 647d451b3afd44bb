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
# Hardware parts that vendors number: PSU1, Fan 2, slot3, FPC0, PEM1, module 4.
HARDWARE = re.compile(r"(?i)(?:psu|ps|fan|fantray|slot|module|card|pem|fpc|pic|mic|lc|sup|cpu"
                      r"|core|disk|drive|bay|sensor|temp|battery|bat|port|lane|unit|stack|member"
                      r"|node)[-_]?\d{1,3}(?:[/.]\d{1,3})*")
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
# The kinds our pseudonyms carry as a prefix: ip-3fa9c21b, host-…, and group-/event- digests.
TOKEN_KINDS = ("ip", "host", "mac", "email", "phone", "serial", "user", "name", "site", "device",
               "url", "group")
_TOKEN = re.compile(rf"(?:{'|'.join(TOKEN_KINDS)})-[0-9a-f]{{8}}|(?:group|event)-[0-9a-f]{{12,16}}")
_SAFE = (INTERFACE, HARDWARE, DISK, NUMBER, DURATION, TIMESTAMP, VERSION, CODE)


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


# What a field's name says about its value. Names are split into words (at case changes,
# '_', '-', spaces; a dotted name by its last part), so devname, srcUser, "Account Name",
# SubjectUserName and exported_instance all count.
#
# A last word that names an identifier decides, whatever qualifies it (alert_host,
# check_target, exported_instance).
_LAST_WORDS: dict[str, str] = {
    "device": "device",  # a host, or in node_exporter's labels a disk or an interface
    **dict.fromkeys("host hostname hosts instance target targets node nodename nodes "
                    "devname computer server servers workstation machine fqdn domain peer "
                    "neighbor neighbour source src dst destination dest caller sysname printer "
                    "switch router gateway gw endpoint agent origin sender recipient pod vm "
                    "container".split(), "host"),
    **dict.fromkeys("ip ips ipaddr ipaddress address addr addresses srcip dstip remip "
                    "nexthop".split(), "ip"),
    **dict.fromkeys("mac macaddr macaddress hwaddr lladdr bssid".split(), "mac"),
    **dict.fromkeys("email emails mail e-mail".split(), "email"),
    **dict.fromkeys("phone phones mobile tel telephone fax msisdn cell".split(), "phone"),
    **dict.fromkeys("serial sn serialnumber serialno devid chassisid servicetag "
                    "asset assettag".split(), "serial"),
    **dict.fromkeys("user users username usr login logon account accounts owner member "
                    "uid upn principal author".split(), "user"),
    **dict.fromkeys("site location building room rack city street floor campus".split(),
                    "site"),
    **dict.fromkeys("customer client tenant company org organization organisation".split(),
                    "name"),
}
# Before "name" or "id", these make a field readable: alert_name, ifName, problem name.
_READABLE_QUALIFIERS = frozenset(
    "alert rule trigger problem event metric item check job service sensor interface if "
    "group template application app dashboard panel folder policy profile object process "
    "file task module package schema table column field tag label key zone vlan class type "
    "vendor product model os platform software firmware image queue channel provider display "
    "severity status state action method query region mib oid counter".split())
_NOT_IDENTIFYING = re.compile(
    r"alert|rule|trigger|problem|event|metric|item|check|job|severity|status|state|type|"
    r"interface|intf|(?:^|_)if(?:_|$)|ifname|ifdescr|ifalias|ifindex|descr|port|vlan|"
    r"zone|policy|action|level|proto|service|sensor|summary|description|message|subject|title|"
    r"unit|threshold|duration|time|date|version|code|oid|count|reason|category|receiver|"
    r"fingerprint|mount|fstype|mode|country|value|operational|opdata|(?:^|_)id$|^id(?:_|$)|"
    r"uuid|label|annotation|expr|query|panel|dashboard|silence|image|url|link|runbook|"
    r"language|locale|charset|format|method|operator|macro")
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"e_?mail|^mail|_mail")),
    ("phone", re.compile(r"phone|(?:^|_)tel(?:$|_)|mobile|msisdn|fax|(?:^|_)cell(?:$|_)")),
    ("mac", re.compile(r"(?:^|_|src|dst)mac(?!hine|ro)|hwaddr|lladdr|bssid|ether(?:net)?_?addr")),
    ("serial", re.compile(r"serial|(?:^|_)sn(?:$|_)|devid|chassis_?id|service_?tag|asset")),
    ("user", re.compile(r"user|(?:^|_)usr|login|logon|account|owner|member|person|contact"
                        r"|author|principal|(?:^|_)uid(?:$|_)|(?:^|_)upn|sam_?account|(?:^|_)by(?:$|_)")),
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


# Kinds whose fields never hold a readable number: a number there is the identifier.
STRICT_KINDS = frozenset({"ip", "mac", "email", "phone", "serial", "user"})


def key_kind(key: str, extra: dict[str, str] | None = None) -> str | None:
    """The identifier kind a field named ``key`` holds, or None for a readable field."""
    if extra and key in extra:
        return extra[key]
    cached = _key_cache.get(key, "?")
    if cached != "?":
        return cached
    words = [w for w in _CAMEL.sub("_", key.strip().rsplit(".", 1)[-1]).lower().split("_") if w]
    kind = _kind_of(words)
    if len(_key_cache) < 10_000:
        _key_cache[key] = kind
    return kind


def _kind_of(words: list[str]) -> str | None:
    if not words:
        return None
    last = words[-1]
    if last in _LAST_WORDS:
        if _LAST_WORDS[last] == "host" and any(_LAST_WORDS.get(w) == "user" for w in words):
            return "user"  # TargetUserName, user_host
        return _LAST_WORDS[last]
    if last in ("name", "names", "id", "ids", "display") and len(words) > 1:
        for word in reversed(words[:-1]):  # SubjectUserName, trigger_host_name, ifName
            if word in _LAST_WORDS:
                return _LAST_WORDS[word]
            if word in _READABLE_QUALIFIERS:
                return None
        return "host" if last.startswith("name") else None
    joined = "_".join(words)
    if _NOT_IDENTIFYING.search(joined):
        return None
    return next((k for k, pattern in _KINDS if pattern.search(joined)), None)
