"""Data files for tests and benchmarks, written on the spot (nothing large is committed)."""

from __future__ import annotations

import json
from pathlib import Path


def alpaca_rows(path: Path, count: int, start: int = 0) -> Path:
    """`count` short alpaca rows ("Say hello to person N."), appended to `path`."""
    with path.open("a", encoding="utf-8") as handle:
        for n in range(start, start + count):
            row = {
                "instruction": f"Say hello to person {n}.",
                "input": "",
                "output": f"Hello person {n}, nice to meet you.",
            }
            handle.write(json.dumps(row) + "\n")
    return path
