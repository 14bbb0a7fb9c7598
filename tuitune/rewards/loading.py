"""Loading a run's reward functions: the built-in ones by name, a user's from `path/to/file.py:function`
with importlib; what the run's record says about each (`rewards.json`)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuitune.config import BUILTIN_REWARDS, GrpoSettings
from tuitune.rewards.builtin import RewardFunction, RewardFunctionError, builtin_reward
from tuitune.text.user_text import literal, path_problem, shorten

RECORD = "rewards.json"  # in the run's folder: which functions the run used


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
        return Reward(builtin_reward(spec, settings), RewardUse(spec, spec))
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
