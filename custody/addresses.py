"""Small checks on network addresses shared by several areas."""

from __future__ import annotations

import ipaddress


def is_ip(value: str) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
