"""Small checks on network addresses shared by several areas."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence

from custody.errors import InvalidInput

LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# What no address holds before an IPv6 zone ("%eth0"): anything but hex digits, dots, colons.
_NOT_IN_ADDRESSES = re.compile(r"[^0-9A-Fa-f.:]")


def is_ip(value: str) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address. Host names are told apart by their
    characters before ipaddress parses (and raises): alert text asks about every host
    name it holds."""
    address = value.split("%", 1)[0] if "%" in value else value
    if ("." not in address and ":" not in address) or _NOT_IN_ADDRESSES.search(address):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def is_ipv6(value: str) -> bool:
    """Whether ``value`` is an IPv6 address (cached: alert text repeats its candidates)."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def dns_name(name: str) -> str:
    """A DNS name as certificates carry it: A-labels (IDN converted), lowercase, letters,
    digits and hyphens in labels of 1-63 characters, 253 in all, at most one leading
    ``*`` label. Raise naming what is wrong."""
    wildcard = name.startswith("*.")
    body = name[2:] if wildcard else name
    if body.isascii() and "--" not in body:
        ascii_name = body.lower()  # nothing for IDNA to map or check: skip its slow path
    else:
        ascii_name = _a_labels(name, body)
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(LDH_LABEL.match(x) for x in labels):
        raise InvalidInput(f"{name!r} is not a valid DNS name (letters, digits and hyphens in "
                           "dot-separated labels of 1-63 characters, 253 in all; one leading "
                           "'*.' at most)")
    return ("*." if wildcard else "") + ascii_name


def _a_labels(name: str, body: str) -> str:
    import idna  # only where names are checked: the alerts CLI starts without it

    try:
        return str(idna.encode(body, uts46=True, std3_rules=True).decode())
    except (idna.IDNAError, UnicodeError):
        raise InvalidInput(f"{name!r} is not a valid DNS name (letters, digits and hyphens in "
                           "dot-separated labels; one leading '*.' at most)") from None


def allowed_names(entries: Sequence[str]) -> list[str]:
    """Check a client's allowed certificate names: each a domain (itself and its subdomains),
    an IP address or a network (CIDR). Return them normalized."""
    checked = []
    for entry in entries:
        entry = entry.strip()
        if is_network(entry):
            checked.append(str(ipaddress.ip_network(entry, strict=False))
                           if "/" in entry else str(ipaddress.ip_address(entry)))
            continue
        if entry.startswith("*"):
            raise InvalidInput(f"cert_names: {entry!r}: write the domain itself ('acme.example' "
                               "allows it and every name under it), an IP address or a network "
                               "such as 192.0.2.0/24", field="cert_names")
        try:
            checked.append(dns_name(entry))
        except InvalidInput as exc:
            raise InvalidInput(f"cert_names: {exc}; accepted: a domain ('acme.example' allows it "
                               "and every name under it), an IP address or a network such as "
                               "192.0.2.0/24", field="cert_names") from None
    return checked


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# An IP address or network starts with a hex digit or a colon: a name such as
# "www.example" is not worth the ipaddress module's exception.
_IP_FIRST = frozenset("0123456789abcdefABCDEF:")


def may_be_ip(value: str) -> bool:
    """Whether ``value`` could be an IP address or network at all (a quick look)."""
    return value[:1] in _IP_FIRST


def as_network(value: str) -> IpNetwork | None:
    """``value`` read as an IP address (a network of one) or network (CIDR), or None."""
    if not may_be_ip(value):
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def is_network(value: str) -> bool:
    """Whether ``value`` is an IP address or network (CIDR)."""
    return as_network(value) is not None
