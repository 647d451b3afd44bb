"""Small checks on network addresses shared by several areas."""

from __future__ import annotations

import functools
import ipaddress


def is_ip(value: str) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address."""
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
