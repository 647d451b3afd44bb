"""The command policy: checks per second per family, and what a terminal line costs.

- check_<family>: CommandPolicy.decide over the family's ordinary commands and evasions
  (tests/devices/test_platform_policy.py), in checks per second; the baseline is the
  naive filter the policy replaced (lower-case, split, compare the first word with a set)
  on the same lines, in the same run.
- terminal_line: what the broker adds at Enter for one line: the line-editor model fed
  the keys, the echo rendered on the emulated screen and read back, and the policy
  decision, in milliseconds per line (p50 and p99; the target is at most 2 ms).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any


def _rate(fn: Callable[[str], object], lines: list[str], seconds: float) -> float:
    done, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        for line in lines:
            try:
                fn(line)
            except Exception:  # noqa: BLE001, S110 - a refusal is a result too
                pass
        done += len(lines)
    return done / seconds


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.devices.lineedit import EchoLine, LineEditor
    from custody.devices.platforms import PLATFORMS
    from custody.devices.policy import CommandPolicy
    from tests.devices.test_platform_policy import EVASIONS, ORDINARY

    per_target = max(0.2, seconds / (len(PLATFORMS) + 1))
    for platform in PLATFORMS:
        policy = CommandPolicy.for_device(sorted(platform.device_types)[0])
        lines = ORDINARY[platform.name] + EVASIONS[platform.name]
        first_words = {rule.split()[0] for rule in platform.deny} or {"reboot"}

        def naive(line: str, words: set[str] = first_words) -> bool:
            tokens = line.lower().split()
            return bool(tokens) and tokens[0] in words

        checks = _rate(policy.decide, lines, per_target)
        baseline = _rate(naive, lines, per_target)
        yield {"metric": f"check_{platform.name}", "value": round(checks), "unit": "checks/s",
               "baseline": round(baseline), "ratio": round(checks / baseline, 4),
               "lines": len(lines)}

    shell = CommandPolicy.for_device("linux")
    ios = CommandPolicy.for_device("cisco_ios")
    samples = [(shell, "user@host:~$ ", line) for line in ORDINARY["linux"]] + \
              [(ios, "fs-r1#", line) for line in ORDINARY["cisco_ios"]]
    times: list[float] = []
    stop = time.perf_counter() + per_target
    while time.perf_counter() < stop or len(times) < 200:
        for policy, prompt, line in samples:
            t0 = time.perf_counter()
            editor, echo = LineEditor(policy.platform.help_key), EchoLine()
            echo.begin(prompt)
            editor.feed(line)
            echo.feed(line)
            for reading in {editor.text, echo.line() or ""}:
                try:
                    policy.decide(reading)
                except Exception:  # noqa: BLE001, S110
                    pass
            times.append(time.perf_counter() - t0)
    times.sort()
    yield {"metric": "terminal_line", "value": round(statistics.median(times) * 1000, 3),
           "unit": "ms", "p99": round(times[int(len(times) * 0.99)] * 1000, 3),
           "target": 2.0, "lines": len(times)}
