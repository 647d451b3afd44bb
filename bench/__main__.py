"""Run one benchmark module from bench/ and print its results as JSON lines."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if not m.name.startswith("_") and m.name not in ("hello", "load"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=available(), help="the benchmark to run")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per target")
    args = parser.parse_args()
    module = importlib.import_module(f"bench.{args.name}")
    for row in module.run(seconds=args.seconds):
        print(json.dumps({"bench": args.name} | row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
