"""Address checks shared across areas: the quick look agrees with ipaddress."""

from __future__ import annotations

import ipaddress

from hypothesis import example, given, settings
from hypothesis import strategies as st

from custody.addresses import is_ip


def _parses(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.text(alphabet="0123456789abcdefABCDEF.:%-gx[] ", max_size=45)))
@example("fe80::1%en0")
@example("10.0.0.1%x")
@example("1234")
@example("sw-core-76.example.com")
def test_is_ip_says_what_ipaddress_says(value: str) -> None:
    """Host names are told apart by their characters before ipaddress parses anything;
    the answer stays ipaddress's own, zones and embedded IPv4 included."""
    assert is_ip(value) == _parses(value)
