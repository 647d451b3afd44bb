"""Prefix-preserving address pseudonyms (Crypto-PAn), an opt-in per client."""

from __future__ import annotations

import hmac
import ipaddress

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class CryptoPAn:
    """Prefix-preserving address pseudonyms (Crypto-PAn, Xu et al. 2002) under a 32-byte key.

    Bit i of the result flips by the first bit of AES(first i bits of the address, padded
    with a secret pad), so addresses sharing an n-bit prefix share one afterwards too.
    """

    def __init__(self, key: bytes) -> None:
        self._aes = Cipher(algorithms.AES(key[:16]), modes.ECB())
        self._pad = int.from_bytes(self._aes.encryptor().update(key[16:32]), "big")

    def anonymize(self, text: str) -> str:
        """An address of the same family; anything that is not an address gets a keyed hash."""
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            return hmac.digest(self._pad.to_bytes(16, "big"), text.encode(), "sha256").hex()[:8]
        width = address.max_prefixlen
        value = int(address) << (128 - width)
        blocks = b"".join(
            ((value >> (128 - i) << (128 - i) if i else 0)
             | (self._pad & ((1 << (128 - i)) - 1))).to_bytes(16, "big")
            for i in range(width))
        out = self._aes.encryptor().update(blocks)
        flips = 0
        for i in range(width):
            flips = (flips << 1) | (out[16 * i] >> 7)
        return str(ipaddress.ip_address(int(address) ^ flips))
