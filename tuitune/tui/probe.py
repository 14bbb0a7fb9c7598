"""`python -m tuitune.tui.probe MODEL [--vram GB]`: what the wizard shows about a model, as JSON.

It reads the model's config only (no weights) and asks for a recommendation, which needs
transformers and torch's meta device; so the app runs this module in a child process and never
imports it. Output: one JSON object `{"model": {...}, "recommendation": {...} | null,
"recommendation_error": str | null}`; a failure is one `error: ...` line on stderr and exit 1,
like the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any


def _plain(value: Any) -> Any:
    """Dataclasses, paths and tuples as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def probe_model(name: str, vram_gb: float | None = None) -> dict[str, Any]:
    """The model's description and, when it can be made, a recommendation."""
    from tuitune.models.inspect import describe_model

    info = describe_model(name)
    document: dict[str, Any] = {"model": _plain(info), "recommendation": None, "recommendation_error": None}
    try:
        from tuitune.models.recommend import recommend

        document["recommendation"] = _plain(recommend(name, vram_gb=vram_gb))
    except Exception as exc:  # a missing recommendation must not hide the model's description
        document["recommendation_error"] = str(exc) or type(exc).__name__
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.tui.probe")
    parser.add_argument("model")
    parser.add_argument("--vram", type=float, default=None)
    args = parser.parse_args(argv)
    from tuitune.errors import TuituneError

    try:
        document = probe_model(args.model, args.vram)
    except TuituneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else still reaches the user as one line
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
