"""The benchmark runner keeps its output contract (DESIGN §6); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_bench_prints_json_lines_with_a_baseline() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "api", "--seconds", "0.5"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["metric"] for r in rows] == ["requests_per_second", "latency_p50", "latency_p99"]
    for row in rows:
        assert row["bench"] == "api" and row["value"] > 0 and row["baseline"] > 0
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline"], rel=0.01)


def test_unknown_bench_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "nope"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr
