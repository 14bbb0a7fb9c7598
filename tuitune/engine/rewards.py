"""GRPO's reward functions: the built-in ones that need no code, and a user's own from a Python file.

Every reward function has TRL's signature, `f(prompts, completions, **columns) -> list[float]`:
one reward per completion, with every other column of the data (a reference `answer`, …) passed
by name, one value per completion. The built-in ones return a float in [0, 1]:

- `exact_match`: the completion is the answer column's text (case, surrounding spaces and a
  closing full stop or quotes aside);
- `numeric_match`: the last number in the completion equals the answer's (`1,234` is 1234);
- `format`: the completion matches `grpo.format_pattern` (`re.search`; anchor it with ^ and $);
- `length`: how close the completion's length in characters is to `grpo.target_length`
  (shorter over longer: 1 on target, 0.5 at half or twice the length).

A user's function is named `path/to/file.py:function` and loaded with importlib. Which functions a
run used, and each file's sha256, are said in the run's events and written to `rewards.json` in
its folder. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuitune.config import BUILTIN_REWARDS, GrpoSettings
from tuitune.errors import ConfigError
from tuitune.text.user_text import literal, path_problem, shorten

RewardFunction = Callable[..., list[float]]
RECORD = "rewards.json"  # in the run's folder: which functions the run used


class RewardFunctionError(ConfigError):
    """A reward function cannot be loaded, or fails on the run's own data."""

    field = "grpo.rewards"


@dataclass(frozen=True)
class RewardUse:
    """One reward function of a run: its name in the metrics, where it comes from, the file's hash."""

    spec: str  # as the config names it
    name: str  # TRL's metric names: rewards/<name>/mean
    path: str | None = None  # the file, resolved (None: built in)
    sha256: str | None = None

    def describe(self) -> str:
        if self.path is None:
            return f"reward: {self.name} (built in)"
        return f"reward: {self.name} from {shorten(self.path)} (sha256 {self.sha256})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reward:
    """A loaded reward function and what the run's record says about it."""

    function: RewardFunction
    use: RewardUse


def load_rewards(settings: GrpoSettings) -> list[Reward]:
    """Every reward function `settings.rewards` names, loaded; a user's file that is missing, fails
    to import or lacks the function is a one-line `RewardFunctionError`."""
    return [_load(spec, settings) for spec in settings.rewards]


def _load(spec: str, settings: GrpoSettings) -> Reward:
    if spec in BUILTIN_REWARDS:
        return Reward(_builtin(spec, settings), RewardUse(spec, spec))
    path_text, name = split_spec(spec)
    return _from_file(spec, path_text, name)


def split_spec(spec: str) -> tuple[str, str]:
    """(file, function) of a `path/to/file.py:function` reward."""
    path_text, _, name = spec.rpartition(":")
    return path_text, name


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _from_file(spec: str, path_text: str, name: str) -> Reward:
    shown = shorten(spec)
    if not name.isidentifier():
        raise RewardFunctionError(
            f"grpo.rewards: {shown} does not end in a function's name: write path/to/file.py:function."
        )
    problem = path_problem(path_text) if path_text else "no file named"
    if problem is not None:
        raise RewardFunctionError(
            f"grpo.rewards: {shown} names no usable file ({problem}): write path/to/file.py:function."
        )
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise RewardFunctionError(
            f"grpo.rewards: the reward file {shorten(path_text)} does not exist (looked for {shorten(str(path))}): "
            "give the path of a Python file."
        )
    try:
        digest = file_sha256(path)
    except OSError as error:
        raise RewardFunctionError(
            f"grpo.rewards: cannot read {shorten(str(path))} ({error.strerror or error}): fix its permissions."
        ) from None
    module = _import(path, digest)
    function = getattr(module, name, None)
    if function is None or not callable(function):
        found = sorted(
            key for key, value in vars(module).items() if inspect.isfunction(value) and not key.startswith("_")
        )
        has = f" (it defines {', '.join(found[:8])})" if found else " (it defines no function)"
        raise RewardFunctionError(f"grpo.rewards: {shorten(path_text)} has no function {name}{has}: name one it has.")
    if inspect.iscoroutinefunction(function):
        raise RewardFunctionError(
            f"grpo.rewards: {name} in {shorten(path_text)} is async: tuitune calls reward functions directly, "
            "make it a plain def."
        )
    return Reward(function, RewardUse(spec, name, str(path), digest))


def _import(path: Path, digest: str) -> Any:
    # A name of its own per file content: two runs' files of the same name never share a module.
    module_name = f"tuitune_reward_{path.stem}_{digest[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RewardFunctionError(f"grpo.rewards: {shorten(str(path))} is not a Python file: name a .py file.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # the user's code: whatever it raises, say it in one line
        if isinstance(error, KeyboardInterrupt):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise RewardFunctionError(
            f"grpo.rewards: importing {shorten(str(path))} failed ({type(error).__name__}: {literal(first[:200])}): "
            "fix the file."
        ) from None
    sys.modules[module_name] = module
    return module


# --- the built-in rewards ---------------------------------------------------------------------

_CLOSING = " \t\r\n.!?\"'`"
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def completion_text(completion: Any) -> str:
    """A completion's text: TRL passes a string, or for conversational prompts a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def normalise(text: Any) -> str:
    """Text as exact_match compares it: case folded, spaces collapsed, closing punctuation dropped."""
    return " ".join(str(text).split()).casefold().strip(_CLOSING)


def last_number(text: Any) -> float | None:
    """The last number written in `text` (commas as thousands separators), or None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    found = _NUMBER.findall(str(text))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _answers(columns: dict[str, Any], column: str, count: int, name: str) -> list[Any]:
    answers = columns.get(column)
    if answers is None:
        known = ", ".join(sorted(key for key in columns if key not in _TRL_KEYWORDS)) or "none"
        raise RewardFunctionError(
            f"grpo.rewards: {name} compares with column {shorten(column)}, which the data lacks (columns: {known}): "
            "set grpo.answer_column to the column holding the answers."
        )
    return list(answers)[:count]


# Keywords TRL adds to the data's columns in every reward call.
_TRL_KEYWORDS = frozenset({"completion_ids", "trainer_state", "log_extra", "log_metric", "environments"})


def exact_match_reward(completions: list[Any], answers: list[Any]) -> list[float]:
    return [
        float(answer is not None and normalise(completion_text(c)) == normalise(answer))
        for c, answer in zip(completions, answers, strict=True)
    ]


def numeric_match_reward(completions: list[Any], answers: list[Any]) -> list[float]:
    rewards = []
    for completion, answer in zip(completions, answers, strict=True):
        got, wanted = last_number(completion_text(completion)), last_number(answer)
        same = got is not None and wanted is not None and math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-9)
        rewards.append(float(same))
    return rewards


def format_reward(completions: list[Any], pattern: str) -> list[float]:
    compiled = re.compile(pattern, re.DOTALL)
    return [float(compiled.search(completion_text(c)) is not None) for c in completions]


def length_reward(completions: list[Any], target: int) -> list[float]:
    rewards = []
    for completion in completions:
        length = len(completion_text(completion).strip())
        rewards.append(min(length, target) / max(length, target))
    return rewards


def _builtin(spec: str, settings: GrpoSettings) -> RewardFunction:
    column, pattern, target = settings.answer_column, settings.format_pattern, settings.target_length

    def exact_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return exact_match_reward(completions, _answers(columns, column, len(completions), "exact_match"))

    def numeric_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return numeric_match_reward(completions, _answers(columns, column, len(completions), "numeric_match"))

    def format_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return format_reward(completions, pattern)

    def length_closeness(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return length_reward(completions, target)

    functions: dict[str, RewardFunction] = {
        "exact_match": exact_match,
        "numeric_match": numeric_match,
        "format": format_match,
        "length": length_closeness,
    }
    function = functions[spec]
    function.__name__ = spec  # TRL names the reward's metrics after it: rewards/format/mean
    return function


def with_absolute_files(rewards: list[str]) -> list[str]:
    """`rewards` with each `file.py:function`'s file made absolute from this folder: the worker
    runs in the run's folder, not where the user typed the command."""
    absolute = []
    for spec in rewards:
        path_text, name = split_spec(spec)
        if spec in BUILTIN_REWARDS or not path_text or path_problem(path_text) is not None:
            absolute.append(spec)  # a problem is said when the run loads it
            continue
        local = Path(path_text).expanduser()
        absolute.append(spec if local.is_absolute() else f"{Path.cwd() / local}:{name}")
    return absolute
