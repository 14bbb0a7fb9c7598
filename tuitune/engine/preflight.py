"""What the engine checks before a run's first step, without loading the model's weights.

The worker calls it first thing; the app's wizard calls the same function before Launch, and
`tuitune train` before it records the run (`check_in_child`), so each refuses exactly what a
launched run would fail on: the precision for this machine, the tokenizer, the data (read, checked
against the method, templated, tokenized, split), the Trainer's arguments. A face runs it in a
child process (`python -m tuitune.engine.preflight`): the training stack never loads in a face.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune import child, errors
from tuitune.config import RunConfig, parse_config
from tuitune.errors import TrainingError, TuituneError, UnexpectedTrainingError


@dataclass
class Preflight:
    """The tokenizer and the prepared data a run will train on."""

    tokenizer: Any
    prepared: Any


def preflight(config: RunConfig, *, tokenizer: Any = None) -> Preflight:
    """Raise the `TuituneError` a run of `config` would fail with before its first step, if any."""
    from tuitune.data import prepare_dataset
    from tuitune.engine.arguments import resolve_precision, training_arguments
    from tuitune.models.loading import load_tokenizer

    resolve_precision(config)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
    prepared = prepare_dataset(config.data, tokenizer, method=config.method, batch_size=config.training.batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        training_arguments(config, Path(scratch), has_validation=len(prepared.validation) > 0)
    return Preflight(tokenizer, prepared)


def check_in_child(config: RunConfig) -> None:
    """Run `preflight(config)` in a child process; raise the `TuituneError` it found, if any.

    Local paths in `config` are read from the current folder, as the user typed them.
    """
    try:
        finished = subprocess.run(
            child.python_command("tuitune.engine.preflight"),
            input=config.to_json(),
            capture_output=True,
            text=True,
            env=child.child_environment(),
        )
    except OSError as error:
        raise TrainingError(f"Cannot check the run before it starts ({error.strerror or error}).") from None
    try:
        answer = json.loads(finished.stdout.strip().splitlines()[-1]) if finished.stdout.strip() else {}
    except ValueError:
        answer = {}
    if finished.returncode == 0 and not answer.get("error"):
        return
    if answer.get("error"):
        kind = getattr(errors, str(answer.get("type")), None)
        if not (isinstance(kind, type) and issubclass(kind, TuituneError)):
            kind = TuituneError
        raise kind(answer["error"])
    said = [line for line in finished.stderr.strip().splitlines() if line.strip()]
    raise TrainingError(
        f"The check before training stopped (exit code {finished.returncode}"
        + (f": {said[-1][:300]}" if said else "")
        + "): nothing was started; run the same command again, or report it if it persists."
    )


def main() -> int:
    """The child: a run configuration (JSON) on stdin; one JSON line on stdout: {} or the error."""
    try:
        preflight(parse_config(json.loads(sys.stdin.read()), "the run to check"))
    except Exception as error:
        failure = _one_line(error)
        print(json.dumps({"error": str(failure), "type": type(failure).__name__}), flush=True)
        return 1
    print("{}", flush=True)
    return 0


def _one_line(error: Exception) -> TuituneError:
    """What a run would have recorded; a bug's traceback goes to stderr, not into the message."""
    from tuitune.engine.runner import describe_failure

    failure = describe_failure(error)
    if isinstance(failure, UnexpectedTrainingError):
        traceback.print_exception(type(error), error, error.__traceback__)
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        failure = UnexpectedTrainingError(f"The check before training failed: {type(error).__name__}: {first[:300]}")
    return failure


if __name__ == "__main__":
    sys.exit(main())
