"""Text operations the scanner shares: same-length lower-casing, splicing replacements in
by position, and replacing learned values wherever they stand."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from custody.alerts.shapes import TOKEN_KINDS

_TOKEN_START = re.compile(rf"(?:{'|'.join(TOKEN_KINDS)})-[0-9a-f]{{0,8}}$")
CACHE_LIMIT = 100_000
K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V) -> V:
    """Keep ``value`` under ``key`` and return it; a cache past CACHE_LIMIT starts over, so
    text an attacker chooses cannot grow an engine without bound."""
    if len(cache) > CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def inside_token(text: str, at: int) -> bool:
    """Whether position ``at`` of ``text`` lies within one of our pseudonyms."""
    return _TOKEN_START.search(text, max(0, at - 14), at) is not None


def lower_same(value: str) -> str:
    """``value`` lower-cased character by character, so positions stay the same."""
    lower = value.lower()
    if len(lower) != len(value):  # "İ" lower-cases to two characters
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in value)
    return lower.replace("\u2019", "'")  # O’Brien is O'Brien


def splice(value: str, lower: str, spans: list[tuple[int, int, str]]) -> tuple[str, str]:
    """Put each replacement over its (start, end) of ``value``; returns the new text and
    its lower-cased form."""
    if not spans:
        return value, lower
    parts, last = [], 0
    for start, end, replacement in spans:
        parts += [value[last:start], replacement]
        last = end
    parts.append(value[last:])
    value = "".join(parts)
    return value, lower_same(value)


TRIE_DEPTH = 64  # longer words are branches of their own: the trie nests a group a letter


def alternation(words: Iterable[str], first: Callable[[str], str] = re.escape,
                unit: Callable[[str], str] = re.escape) -> str:
    """A pattern for any of ``words``, the longest that fits first, written as a trie.

    Python's ``re`` tries the branches of ``a|b|c`` one after another at every position:
    with a client's thousands of device names, each word of an alert cost thousands of
    tries. In a trie, only the branch of the next character is tried. ``first`` writes
    a word's first character (to put a look-behind there), ``unit`` every other one.
    Words longer than TRIE_DEPTH come first, each a plain branch, so that no name nests
    groups deeper than that.
    """
    trie: dict[str, Any] = {}
    longer: list[str] = []
    for word in {w for w in words if w}:
        if len(word) > TRIE_DEPTH:
            longer.append(word)
            continue
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def written(node: dict[str, Any], write: Callable[[str], str]) -> str:
        branches = [write(char) + written(rest, unit) for char, rest in sorted(node.items())
                    if char]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{either})?" if "" in node else either  # greedy: the longer word first

    branches = [first(word[0]) + "".join(map(unit, word[1:]))
                for word in sorted(longer, key=len, reverse=True)]
    if trie:
        branches.append(written(trie, first))
    if not branches:
        return "(?!)"  # no words: a pattern that never matches
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def replace_values(text: str, learned: list[tuple[str, str]], within_words: bool = True) -> str:
    """Replace case-insensitive occurrences of learned values wherever they are not part of
    a longer word or number: "sql03" also in "HostDown_sql03" and "sql03-backup"; a value
    of several words also when spaced or joined differently ("Halle  7", "HALLE-7").

    ``within_words=False`` (for names known only from where they stood) replaces whole
    words only, so a guess never eats into a code like %DHCP_SNOOPING_UNTRUSTED_PORT.
    """
    lower = lower_same(text)
    for value, token in learned:
        if " " in value:
            # Separators at a word's ends are the joints' business: a word of only "-" or
            # "_" between two joints would let a text of dashes be split between them in
            # ever more ways (seconds for a few dozen), and the joints match them anyway.
            words = [w for w in (w.strip("_-") for w in value.split()) if w]
            if not words or words[0] not in lower or words[-1] not in lower:
                continue
            text, lower = splice(text, lower, [
                (m.start(), m.end(), token) for m in _spread(tuple(words)).finditer(lower)])
            continue
        start = lower.find(value)
        if start < 0:
            continue
        parts, last = [], 0
        while start >= 0:
            end = start + len(value)
            before = lower[start - 1] if start else " "
            after = lower[end] if end < len(lower) else " "
            if not (before.isalnum() or after.isalnum()) and (
                    within_words or not (before in "_-" or after in "_-")):
                parts.append(text[last:start])
                parts.append(token)
                last = end
            start = lower.find(value, end)
        if parts:
            parts.append(text[last:])
            text = "".join(parts)
            lower = lower_same(text)
    return text


@functools.lru_cache(maxsize=4096)
def _spread(words: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern for words joined by any spaces, '-' or '_', not inside a longer word.

    It starts with the first word and looks behind it afterwards: a pattern that starts
    with a look-behind cannot be searched for by its first word, and costs ten times as
    much on a long text."""
    first, *rest = map(re.escape, words)
    return re.compile(first + rf"(?<![^\W_]{first})" + "".join(rf"[\s_-]+{w}" for w in rest)
                      + r"(?![^\W_])")
