"""A wrapper that keeps secret values out of reprs, logs and exceptions."""

from __future__ import annotations

from typing import Final

MASK: Final = "****"


class Secret:
    """Hold a sensitive string; it prints as ``****`` and comes out only via :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the clear value; call it only where the value is used, never to show it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")
