"""Find and replace identifiers in free text, failing closed (DESIGN §4, P5).

Two passes. Identifiers that may contain spaces (phone numbers, "S/N: ...", UNC
paths and DOMAIN\\user logons, multi-word inventory names) are found in the whole
string. Everything else lies within one whitespace-separated word: each distinct
word is analysed once (addresses, MACs, e-mails, URLs, host names, key=value
pairs, inventory names) and the result kept. A word also says whether it is a
marker ("on", "host", "by", "user", "Account Name:"): the word after a marker is a
name and is replaced, unless it is an ordinary word or has a shape that must stay
readable (numbers, interfaces, times, versions, codes; see custody.alerts.shapes).
Punctuation around an identifier never hides it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from custody.addresses import is_ip, is_ipv6
from custody.alerts.shapes import (
    DISK,
    DURATION,
    INTERFACE,
    NUMBER,
    STRICT_KINDS,
    TIMESTAMP,
    VERSION,
    is_token,
    key_kind,
    readable_shape,
)
from custody.alerts.textops import (
    alternation,
    inside_token,
    lower_same,
    remember,
    replace_values,
    splice,
)
from custody.alerts.vocabulary import (
    HOST_MARKERS,
    MAC_MARKERS,
    NOT_NAMES,
    USER_MARKERS,
    VERSION_MARKERS,
)

Tokenize = Callable[[str, str], str]  # (kind, value) -> pseudonym

_LEAD = "\"'([{<`*"
_TRAIL = "\"',;:.!?)]}>`*"

# Within one word, each tried only when the word has its telltale character. Each
# pattern starts with a character class and checks what precedes it afterwards, so the
# regex engine skips quickly to where one may begin.
_URL = re.compile(r"[A-Za-z](?<![\w.+-][A-Za-z])[A-Za-z0-9+.-]{1,15}://[^\s\"'<>]+")
_EMAIL = re.compile(r"[\w.%+-](?<![\w.%+-][\w.%+-])[\w.%+-]*@[^\W_][\w-]*(?:\.[\w-]+)*")
_COLON = re.compile(  # MACs with colons, IPv6 (also with an IPv4 tail); times are told apart later
    r"(?P<mac>[0-9A-Fa-f](?<![0-9A-Fa-f:.-][0-9A-Fa-f])[0-9A-Fa-f](?::[0-9A-Fa-f]{2}){5}"
    r"(?![0-9A-Fa-f]|:[0-9A-Fa-f]))"
    r"|(?P<ipv6>[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:"
    r"(?:[0-9A-Fa-f]{0,4}:){1,6}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?!\w))")
_DOTTED = re.compile(  # IPv4 (with tcpdump's ".port"), dotted MACs, host names
    r"(?P<ipv4>\d(?<!\d\d)(?<!\d\.\d)\d{0,2}(?:\.\d{1,3}){3}(?P<port>\.\d{1,5})?(?!\d|\.\d))"
    r"|(?P<mac>[0-9A-Fa-f](?<![0-9A-Fa-f.-][0-9A-Fa-f])(?:[0-9A-Fa-f]{3}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
    r"|[0-9A-Fa-f](?:\.[0-9A-Fa-f]{2}){5})(?![0-9A-Fa-f]|\.[0-9A-Fa-f]))"
    r"|(?P<host>[^\W_](?<![\w.@\\-][^\W_])[\w-]{0,62}\.(?:[^\W_][\w-]{0,62}\.)*"
    r"(?:xn--[\w-]+|[^\W\d_][^\W_]*(?:-[^\W_]+)*)(?![^\W_]|-|\.[^\W_]))")
# Java and .NET class names are reversed domains: com.example.App is code, not a host.
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_CLASS_NAME = re.compile(r"(?:com|org|net|io|de|java|javax|sun|jdk|system|microsoft)"
                         r"\.(?:[a-z][\w]*\.)*[A-Z]\w*")
_DASHED_MAC = re.compile(
    r"[0-9A-Fa-f](?<![0-9A-Fa-f:.-][0-9A-Fa-f])(?:[0-9A-Fa-f](?:-[0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{3}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4})(?![0-9A-Fa-f]|-[0-9A-Fa-f])")
_BARE_MAC = re.compile(r"(?:[A-Fa-f](?<![0-9A-Za-z][A-Fa-f])"  # a hex letter first, or
                       r"|[0-9](?<![0-9A-Za-z][0-9])(?=[0-9]*[A-Fa-f]))"  # one later
                       r"[0-9A-Fa-f]{11}(?![0-9A-Za-z])")
_SID = re.compile(r"S(?<![\w-]S)-1-\d+(?:-\d+)+")
# A word with none of these characters holds nothing _WORD finds.
_GATE = re.compile(r"[\d@:.\\=]")
_KEY_VALUE = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)[\"']?(?P<sep>=|:)(?P<value>\"[^\"]*\"?|'[^']*'?"
                        r"|[^\s,;{}()\[\]\"'|]+)")
_INWORD_MARKER = re.compile(r"(?i)(?<![^\W_])(?P<marker>hosts?|hostname|server|node|device|user"
                            r"|username|login|account)[(\[](?P<name>[^()\[\]{}\s,;:]+)[)\]]")
_PORT = re.compile(r":\d{1,5}$")
_FILE_TYPES = frozenset(
    "txt log conf cfg bin exe dll json xml yaml yml ini pem crt cer key csr tgz gz zip iso img pdf "
    "csv html htm php jsp asp aspx js css py sh ps1 bat cmd msi deb rpm tar bz2 xz so sys vbs rules "
    "service socket timer mount target d".split())

# Across words: each runs only when its cheap gate is in the text.
# Each starts with a character class; what precedes it is checked after. In the first,
# a group's digits are possessive (+): a match never ends inside a run of digits (the
# look-ahead refuses a digit next), so trying every split of a long run between groups
# could only fail, and "+" and twenty digits before a letter made it try thousands.
_PHONE = re.compile(
    r"\+(?<![\d+.:/-]\+)\d{1,3}(?:[ \u00a0\u202f.-]?\(?\d{1,5}+\)?){1,6}(?:/\d{1,5}+)?"
    r"(?![.:/-]?\w)"                                           # +49 30 1234567, +49 30 123-4/56
    r"|\((?<![\w+.:/-]\()\d{2,5}\)[ \u00a0.-]?\d{2,8}(?:[ \u00a0.-]\d{2,5}){0,2}"
    r"(?![.:/-]?\w)"                                           # (415) 555-0198, (030) 1234567
    r"|1(?<![\w+.:/-]1)[-. ]\d{3}[-. ]\d{3}[-.]\d{4}(?![.:/-]?\w)"  # 1-800-555-0199
    r"|\d(?<![\w+.:/-]\d)\d{2}[-.]\d{3}[-.]\d{4}(?![.:/-]?\w)"      # 415-555-0199
    r"|0(?<![\w+.:/-]0)\d{1,4}(?:(?: ?/ ?|[ \u00a0-])\d{2,8}){1,4}(?![.:/-]?\w)")  # 030 7654321
# What may stand inside a _PHONE match besides its digits, and seven digits among them.
_PHONE_SEPARATORS = " \u00a0\u202f().+/-"
_PHONE_CHARS = frozenset(_PHONE_SEPARATORS)
# Possessive (*+): no separator is a digit, so giving one back could never help.
_SEVEN_DIGITS = re.compile(rf"\d(?:[{re.escape(_PHONE_SEPARATORS)}]*+\d){{6}}")
# These two run over the lower-cased text: each alternative starts with a literal and
# checks what precedes it afterwards, which is what lets the regex engine skip ahead.
_PHONE_MARKED = re.compile(
    r"(?:t(?<![\w]t)el|p(?<![\w]p)hone|c(?<![\w]c)all|m(?<![\w]m)obile|m(?<![\w]m)ob"
    r"|c(?<![\w]c)ell|f(?<![\w]f)ax|h(?<![\w]h)otline|s(?<![\w]s)ms)\b\.?:?\s*"
    r"(?P<phone>\+?[\d(][\d ()./-]{3,20}\d)(?![.:/-]?\w)")
_SERIAL = re.compile(
    r"(?:s(?<![\w/]s)/n|s(?<![\w/]s)n|s(?<![\w/]s)erial(?:[ _-]?(?:number|num|no\.?|nr\.?|#))?"
    r"|s(?<![\w/]s)er\.? ?no\.?|s(?<![\w/]s)eriennummer|s(?<![\w/]s)erien-?nr\.?)"
    r"(?![\w/])\s*[:#=]?\s*[\"']?"
    r"(?P<serial>[a-z0-9][\w-]{2,})")
_PLACEHOLDERS = frozenset({"-", "--", "n/a", "na", "none", "null", "nil", "unknown", "?", "*",
                           "localhost", "local", "any", "all"})
# The last group of digits, with every separator before it ("030 / 123": " / 123").
_LAST_GROUP = re.compile(r"[ \u00a0\u202f./-]*\(?\d+\)?$")
_DATE = re.compile(r"\d{1,4}[-./]\d{1,2}[-./]\d{1,4}")
_HOME = re.compile(r"(?i)(?:[/\\](?:home|users)[/\\])(?P<user>[^/\\\s\"'<>,;:]+)")
_SSHD = re.compile(r"(?:password|publickey|keyboard-interactive(?:/pam)?|none|hostbased) for "
                   r"(?:invalid user |illegal user )?(?P<user>\S+) from ")
# RFC 3164 and RFC 5424 headers: the host name is the field after the time stamp.
_SYSLOG_HEADER = re.compile(
    r"(?:<\d{1,3}>(?:1 )?)?(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?) (?P<host>[^\s:\[]+)[ :]")
_UNC = re.compile(r"\\\\([^\\\s\"'<>,;]+)")
_DOWN_LEVEL = re.compile(r"(?<![\w\\:/.-])([A-Za-z][\w.-]{0,14})\\([\w.$-]+)")
_WS = re.compile(r"(\s+)")
_ALNUM = re.compile(r"[^\W_]")  # a letter or a digit: what str.isalnum() says of a character
_DIGIT = re.compile(r"\d")
_WS_HTML = re.compile(r"(\s+|</?[A-Za-z][\w-]*(?=[\s/>])|/?>|&nbsp;|&#160;|&#xa0;)")
_DOTTED_NAME = re.compile(r"[^\W\d_][\w-]*(?:\.[^\W\d_][\w-]*)+")
_SEGMENTS = re.compile(r"[(\[{<,;=:|]")
# The name after a marker ends where the word's punctuation starts: "ethernet1/5",0x0,...
_ATOM = re.compile(r"[^,;:\"'()\[\]{}<>|=\\]+")
# Plain numbers and times: nothing in them to find (four dotted numbers are an address).
_PLAIN = re.compile(r"[-+]?\d+(?:[.,]\d+)?%?[.,;:)]?|\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?[.,;)]?")


@dataclass(slots=True)
class _Word:
    out: str          # the word with what it holds replaced (context-free)
    marks: str | None  # the kind of name the next word is, if this word is a marker
    core: str         # the word without the punctuation around it
    named: tuple[tuple[str, str], ...]  # (name, token) found by its key: replaced elsewhere too
    lower: str = ""   # the core, lower-cased
    plain: bool = False  # nothing found, no marker, not "=" or ":": the loop skips it
    alnum: bool = True  # it has a letter or a digit ("->" and "|" have none)


class TextScanner:
    """Replace the identifiers in free text with pseudonyms from ``tokenize``."""

    def __init__(self, tokenize: Tokenize, url: Callable[[str], str],
                 known_names: Iterable[str] = (),
                 own: Callable[[str], bool] = lambda token: False) -> None:
        self._tokenize = tokenize
        self._url = url
        self._own = own  # prefix-preserving pseudonyms look like addresses: ours are kept
        names = {n.strip().lower().replace("\u2019", "'") for n in known_names
                 if len(n.strip()) >= 3}
        self._single = {n for n in names if not any(c.isspace() for c in n)}
        # Inside a word too ("FS01_daily", "(fs01)", "FS01-backup"): any character that is
        # not a letter or digit ends a name. The look-behind comes after the first
        # character, so that re can look for that character first.
        self._single_in = re.compile("(?:" + alternation(self._single, first=lambda c: (
            f"{re.escape(c)}(?<![^\\W_]{re.escape(c)})")) + r")(?![^\W_])") \
            if self._single else None
        several = {" ".join(n.split()) for n in names if any(c.isspace() for c in n)}
        # Over the lower-cased text, like _SERIAL: many times faster than IGNORECASE.
        self._known = re.compile("(?:" + alternation(several, first=lambda c: (
            f"{re.escape(c)}(?<![\\w.-]{re.escape(c)})"), unit=lambda c: (
            r"\s+" if c == " " else re.escape(c))) + r")(?![\w-])") if several else None
        self._words: dict[str, _Word] = {}
        self._texts: dict[str, str] = {}
        self._values: dict[tuple[str, str], str] = {}
        self._safe: dict[str, bool] = {}
        self._marked: dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]] = {}

    def text(self, value: str) -> str:
        """``value`` with every identifier in it replaced."""
        cached = self._texts.get(value)
        if cached is not None:
            return cached
        return remember(self._texts, value, self._words_of(self._phrases(value)))

    def value(self, kind: str, value: str) -> str:
        """A field's whole value, named by its key as ``kind``: replaced unless readable."""
        cached = self._values.get((kind, value))
        if cached is None:
            cached = remember(self._values, (kind, value), self._value(kind, value))
        return cached

    def _value(self, kind: str, value: str) -> str:
        core = value.strip()
        lower = core.lower()
        if not core or lower in _PLACEHOLDERS or is_token(core):
            return value
        if lower in self._single:
            return self._tokenize("name", core)
        if kind not in STRICT_KINDS and (NUMBER.fullmatch(core) and "." not in core
                                         or TIMESTAMP.fullmatch(core) or DURATION.fullmatch(core)):
            return value  # a count or a time where a name might have been
        if kind == "device" and (DISK.fullmatch(core) or INTERFACE.fullmatch(core)):
            return value  # node_exporter's device label: a disk or an interface
        if kind in ("host", "ip", "device"):
            port = _PORT.search(core)
            if port and not is_ipv6(core):
                return self._host_token(core[:port.start()]) + port.group(0)
            return self._host_token(core)
        return self._tokenize(kind, core)

    # -- across words
    def _phrases(self, value: str) -> str:
        lower = lower_same(value)
        if self._known is not None:
            value, lower = splice(value, lower, [
                (m.start(), m.end(), self._tokenize("name", value[m.start():m.end()]))
                for m in self._known.finditer(lower)])
        if _DIGIT.search(value):
            phoned = self._phones(value)
            if phoned != value:
                value, lower = phoned, lower_same(phoned)
            if "tel" in lower or "phone" in lower or "call" in lower or "mob" in lower \
                    or "fax" in lower or "cell" in lower or "sms" in lower or "hotline" in lower:
                value, lower = splice(value, lower, [
                    (m.start("phone"), m.end("phone"), self._tokenize("phone", m.group("phone")))
                    for m in _PHONE_MARKED.finditer(lower)])
        if "sn" in lower or "s/n" in lower or "seri" in lower or "ser." in lower \
                or "ser no" in lower:
            value, lower = splice(value, lower, [
                (m.start("serial"), m.end("serial"),
                 self._tokenize("serial", value[m.start("serial"):m.end("serial")]))
                for m in _SERIAL.finditer(lower)
                if m.group("serial") not in NOT_NAMES and not is_token(m.group("serial"))])
        if "\\" in value:
            value = _UNC.sub(self._unc, value)
            value = _DOWN_LEVEL.sub(self._down_level, value)
        if "home" in lower or "users" in lower:  # /home/jdoe, C:\Users\jdoe
            value = _HOME.sub(lambda m: m.group(0) if is_token(m.group("user")) else
                              m.group(0)[:m.start("user") - m.start(0)]
                              + self._tokenize("user", m.group("user")), value)
        if " for " in lower:  # sshd: "Failed password for invalid user jdoe from ..."
            value = _SSHD.sub(lambda m: m.group(0) if is_token(m.group("user")) else
                              m.group(0)[:m.start("user") - m.start(0)]
                              + self._tokenize("user", m.group("user")) + " from ", value)
        header = _SYSLOG_HEADER.match(value)
        if header and not self._is_safe(header.group("host")) and not _PLAIN.fullmatch(
                header.group("host")):
            value = value[:header.start("host")] + self._host_token(header.group("host")) \
                + value[header.end("host"):]
        return value

    def _phones(self, value: str) -> str:
        """``value`` with its phone numbers replaced.

        A number is only replaced with seven digits or more, and all of a match's characters
        are _PHONE_CHARS: the search starts at the first stretch of those that holds seven
        digits, where what _PHONE.sub would find first lies (most texts have none).
        """
        seven = _SEVEN_DIGITS.search(value)
        if seven is None:
            return value
        start = seven.start()
        while start and (value[start - 1] in _PHONE_CHARS or value[start - 1].isdecimal()):
            start -= 1
        parts, last = [value[:start]], start
        for m in _PHONE.finditer(value, start):
            parts += [value[last:m.start()], self._phone(m)]
            last = m.end()
        parts.append(value[last:])
        return "".join(parts)

    def _phone(self, m: re.Match[str]) -> str:
        found = number = m.group(0)
        digits = sum(map(str.isdigit, number))
        while digits > 15:  # it ran into the next number
            shorter = _LAST_GROUP.sub("", number)
            if shorter == number:
                return self._tokenize("phone", number)  # no group to cut: all of it, then
            number, digits = shorter, sum(map(str.isdigit, shorter))
        if not 7 <= digits or DURATION.fullmatch(number) or _DATE.fullmatch(number):
            return found
        return self._tokenize("phone", number) + found[len(number):]

    def _unc(self, m: re.Match[str]) -> str:
        host = m.group(1)
        return m.group(0) if is_token(host) else "\\\\" + self._host_token(host)

    def _down_level(self, m: re.Match[str]) -> str:
        domain, user = m.group(1), m.group(2)
        if is_token(domain):
            return m.group(0)
        return f"{self._tokenize('host', domain)}\\{self._tokenize('user', user)}"

    # -- word by word
    def _words_of(self, value: str) -> str:
        separators: list[str] | None = None  # None: each a single space
        if "<" in value and ">" in value or "&" in value:
            parts = _WS_HTML.split(value)  # markup: tags and &nbsp; separate words too
            words, separators = parts[::2], parts[1::2]
        elif "\t" in value or "\n" in value or "\r" in value or "\f" in value or "\v" in value \
                or not value.isascii():
            parts = _WS.split(value)
            words, separators = parts[::2], parts[1::2]
        else:  # one line of plain spaces: split without a regex
            words = value.split(" ")
        get = self._words.get
        pending: str | None = None
        quoted = ""  # the quote a marked name opened and has not closed yet
        listing = False  # a marker's names come as a list: "web02, web03 and web04"
        previous = ""
        changed = False
        named: list[tuple[str, str]] = []  # names found by context, replaced everywhere after
        for at, word in enumerate(words):
            info = get(word)
            if info is None:
                if not word:
                    continue
                info = self._learn(word)
            if pending is None and info.plain:  # most words: nothing in them, nothing after
                previous = info.lower
                continue
            if pending is not None and not info.alnum and word not in ("=", ":"):
                continue  # "Host -> web02", "| host | sql03 |": punctuation keeps the marker
            out = info.out
            if pending is not None:
                out = self._after_marker(pending, word, info, named)
            if out != word:
                words[at] = out
                changed = True
            if info.named:
                named.extend(info.named)
            if pending is not None and pending not in ("version", "mac"):
                # a quoted name of several words, or a list: "web02, web03 and web04"
                if not quoted and word[:1] in "\"'" and not word.rstrip(",.;:)")[1:].endswith(
                        word[:1]):
                    quoted = word[:1]
                elif quoted and word.rstrip(",.;:)").endswith(quoted):
                    quoted = ""
                following = words[at + 1].lower() if at + 1 < len(words) else ""
                if quoted or word.endswith(",") or info.lower in ("and", "or", "&") \
                        or listing and following in ("and", "or", "&"):
                    listing = listing or word.endswith(",")
                    previous = info.lower
                    continue
            if info.marks is not None:
                pending = info.marks
                if pending == "host" and previous in ("account", "user", "logon", "target"):
                    pending = "user"  # "Account Name:", "User Name:"
            elif word in ("=", ":") and previous:
                pending = key_kind(previous)
            elif pending == "mac" and info.lower in ("address", "addr", "adresse", "is"):
                pass  # "MAC address 001122334455"
            elif word.endswith((":", "=")) and previous and not info.lower.isdigit():
                pending = key_kind(f"{previous} {info.lower}")  # "User ID:", "Logon Type:"
            else:
                pending = None
            listing = listing and pending is not None
            previous = info.lower
        if not changed:
            return value
        result = " ".join(words) if separators is None else "".join(
            part for pair in zip(words, [*separators, ""], strict=True) for part in pair)
        return replace_values(result, sorted(set(named), key=lambda vt: len(vt[0]), reverse=True),
                              within_words=False) if named else result

    def _after_marker(self, kind: str, word: str, info: _Word,
                      named: list[tuple[str, str]]) -> str:
        """The word after a marker: a name of ``kind`` unless it is ordinary or readable;
        a name it holds is added to ``named``."""
        done = self._marked.get((kind, word))
        if done is None:
            found: list[tuple[str, str]] = []
            done = remember(self._marked, (kind, word),
                            (self._marked_word(kind, word, info, found), tuple(found)))
        named.extend(done[1])
        return done[0]

    def _marked_word(self, kind: str, word: str, info: _Word,
                     named: list[tuple[str, str]]) -> str:
        """What _after_marker gives, worked out: only the word's first part is the name,
        as a CSV field or a bracket ends it."""
        core = info.core
        if kind == "version":
            return word if VERSION.fullmatch(core) else info.out
        atom = _ATOM.search(core)
        name = atom.group(0) if atom else core
        if info.out != word or not core:
            if kind == "user" and "." in name and _DOTTED_NAME.fullmatch(name):
                # "Logon Account: k.yilmaz" names a user, though it reads like a host name
                return word.replace(name, self._tokenize("user", name), 1)
            return info.out  # something in it was found already
        if _ALNUM.search(name) is None:
            return word
        if kind == "mac" and re.fullmatch(r"(?:0[xX])?[0-9A-Fa-f]{12}", name):
            return word.replace(name, self._tokenize("mac", name), 1)
        if kind in ("mac", "phone", "serial") or self._is_safe(name):
            return word  # those three are found by their shapes, not by position
        token = self._host_token(name) if kind in ("host", "ip", "device") \
            else self._tokenize(kind, name)
        if len(name) >= 3:
            named.append((name.lower(), token))
        return word.replace(name, token, 1)

    def _is_safe(self, name: str) -> bool:
        safe = self._safe.get(name)
        if safe is None:
            safe = remember(self._safe, name, all(
                part.lower() in NOT_NAMES or readable_shape(part) or self._own(part)
                for part in (name.split("/") if "/" in name.strip("/") else [name])))
        return safe

    def _learn(self, word: str) -> _Word:
        return remember(self._words, word, self._analyse(word))

    def _analyse(self, word: str) -> _Word:
        core = word.lstrip(_LEAD).rstrip(_TRAIL)
        out = word
        named: list[tuple[str, str]] = []  # found by its key or marker: replaced elsewhere too
        if _GATE.search(word) and not _PLAIN.fullmatch(word):
            if "=" in core or ":" in core:
                out = _KEY_VALUE.sub(lambda m: self._key_value(m, named), out)
            out = self._find(out)
        elif len(word) >= 12:  # a MAC of hex letters only: "FFFFFFFFFFFA"
            out = _BARE_MAC.sub(lambda m: self._tokenize("mac", m.group(0)), out)
        if self._single_in is not None and (core.lower() in self._single or not core.isalnum()):
            lowered = lower_same(out)
            out = splice(out, lowered, [
                (m.start(), m.end(), self._tokenize("name", out[m.start():m.end()]))
                for m in self._single_in.finditer(lowered) if not inside_token(out, m.start())])[0]
        if "(" in out or "[" in out:  # "host(web02)", "user[jdoe]"
            out = _INWORD_MARKER.sub(lambda m: self._inword_marker(m, named), out)
        lower = core.lower()
        marks = _marker(lower, word)
        plain = out == word and marks is None and not named and word not in ("=", ":")
        return _Word(word if out == word else out, marks, core, tuple(named), lower, plain,
                     _ALNUM.search(word) is not None)

    def _inword_marker(self, m: re.Match[str], named: list[tuple[str, str]]) -> str:
        name = m.group("name")
        if self._is_safe(name) or self._find(name) != name:
            return m.group(0)
        kind = _marker(m.group("marker").lower(), m.group("marker")) or "host"
        token = self._host_token(name) if kind == "host" else self._tokenize(kind, name)
        named.append((name.lower(), token))
        return m.group(0)[:m.start("name") - m.start(0)] + token + m.group(0)[m.end("name") - m.start(0):]

    def _key_value(self, m: re.Match[str], named: list[tuple[str, str]]) -> str:
        key, value = m.group("key"), m.group("value")
        if m.group("sep") == ":" and not key.isalpha():
            return m.group(0)
        kind = None if is_token(key) else key_kind(key)
        bare = value.strip("\"'")
        if kind is None or _ALNUM.search(bare) is None or self._find(bare) != bare \
                or kind not in STRICT_KINDS and bare.lower() in NOT_NAMES:
            return m.group(0)  # an address or the like in it is found by the next pass
        token = self.value(kind, bare)
        if token == bare:
            return m.group(0)
        if len(bare) >= 3:
            named.append((bare.lower(), token))
        return m.group(0)[:m.start("value") - m.start(0)] + value.replace(bare, token, 1)

    def _find(self, word: str) -> str:
        """Replace the addresses, MACs, e-mails, links and host names in one word."""
        if "://" in word:
            word = _URL.sub(self._link, word)
        if word.count(":") >= 2:
            word = _COLON.sub(self._colon, word)
        if "@" in word:  # after MACs: "E4:38:83:A0:18:07@wlan1" is a MAC on an interface
            word = _EMAIL.sub(self._email, word)
        if "." in word.rstrip(_TRAIL):
            word = _DOTTED.sub(self._dotted, word)
        if word.count("-") >= 2:
            word = _DASHED_MAC.sub(lambda m: self._tokenize("mac", m.group(0)), word)
            if "S-1-" in word:
                word = _SID.sub(lambda m: self._tokenize("user", m.group(0)), word)
        if len(word) >= 12:
            word = _BARE_MAC.sub(lambda m: self._tokenize("mac", m.group(0)), word)
        return word

    def _email(self, m: re.Match[str]) -> str:
        found = m.group(0)
        local = found.split("@", 1)[0]
        if is_token(local) or _IPV4.fullmatch(local):
            return found  # "E4:38:..@wlan1" was a MAC; "10.1.2.3@pts/0" is an address
        return self._tokenize("email", found)

    def _link(self, m: re.Match[str]) -> str:
        found = m.group(0)
        tail = len(found) - len(found.rstrip(".,;:!?)]}'\""))
        return self._url(found[:len(found) - tail]) + found[len(found) - tail:]

    def _colon(self, m: re.Match[str]) -> str:
        found = m.group(0)
        if m.lastgroup == "mac":
            return self._tokenize("mac", found)
        if self._own_address(m):
            return found
        if is_ipv6(found) or ("::" in found or found.count(":") >= 4) \
                and not DURATION.fullmatch(found):
            return self._tokenize("ip", found)
        return found  # times like 12:30:45 and other colon-separated numbers

    def _dotted(self, m: re.Match[str]) -> str:
        found = m.group(0)
        if m.lastgroup == "ipv4":
            if self._own_address(m):
                return found
            port = m.group("port")
            if port is None:
                return self._tokenize("ip", found)
            address = found[:len(found) - len(port)]
            if address.startswith(("1.3.6.", "1.0.", "2.16.")):
                return found  # the start of an OID, not an address with a port
            return self._tokenize("ip", address) + port
        if m.lastgroup == "mac":
            return self._tokenize("mac", found)
        last = found.rsplit(".", 1)[-1].lower()
        if any(is_token(label) for label in found.split(".")):
            return found  # "failed.ip-c2416598": one of ours after a full stop
        if last in _FILE_TYPES or last.endswith(("exception", "error")) \
                or _CLASS_NAME.fullmatch(found):
            return found
        return self._tokenize("host", found)

    def _own_address(self, m: re.Match[str]) -> bool:
        """Whether the match is a prefix-preserving pseudonym this engine made ("ip-10.9.8.7")."""
        start = m.start()
        return start >= 3 and m.string[start - 3:start] == "ip-" \
            and self._own("ip-" + m.group(0))

    def _host_token(self, value: str) -> str:
        return self._tokenize("ip" if is_ip(value.strip("[]")) else "host", value)


def _marker(lower: str, word: str) -> str | None:
    """What name the word after ``word`` is, if ``word`` announces one.

    Only the word's last part counts: "(Server", "ifAlias:to", "[user:".
    """
    if not lower.isalpha():
        lower = _SEGMENTS.split(lower)[-1] or lower
    if lower in HOST_MARKERS:
        return "host"
    if lower in USER_MARKERS:
        return "user"
    if lower in VERSION_MARKERS:
        return "version"
    if lower in MAC_MARKERS:
        return "mac"
    stripped = word.rstrip("\"')]}>")
    if stripped.endswith((":", "=")):
        key = _SEGMENTS.split(stripped.rstrip("=:").lstrip(_LEAD))[-1]
        return key_kind(key) if key and not is_token(key) else None
    return None
