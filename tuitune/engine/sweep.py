"""Sweeps: a grid of settings queued as runs. Every combination is checked first, all or nothing.

    tuitune sweep --config base.yaml --set training.learning_rate=1e-4,2e-4 --set lora.r=8,16

`plan_sweep` expands the grid and validates each combination with the config's own rules;
`queue_sweep` records the sweep and puts its runs in the queue, named after what differs
(`lr=2e-4,r=16`). Light: no torch.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from tuitune.config import UNUSED_BY_METHOD, RunConfig, effective_settings, is_unused, parse_config
from tuitune.errors import ConfigError, UsageError
from tuitune.runs.sweep_documents import PlannedRun, RankedRun, SweepDocument, SweepPlanDocument, SweepRanking
from tuitune.store import Run, Store, open_store
from tuitune.store.sweeps import Sweep
from tuitune.text.user_text import has_control_characters, shorten

DEFAULT_MAX_RUNS = 64
# Short words for run names; other keys use their last part (`lora.r` → `r`).
SHORT_KEYS = {
    "learning_rate": "lr",
    "batch_size": "bs",
    "gradient_accumulation_steps": "accum",
    "max_length": "len",
    "epochs": "ep",
    "max_steps": "steps",
    "warmup_ratio": "warmup",
    "weight_decay": "wd",
    "name_or_path": "model",
    "source": "data",
}


class SweepError(ConfigError):
    """Some combinations of a sweep are invalid; `problems` holds one line for each."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass
class SweepPlan:
    """The grid (key → values as typed) and the checked configuration of every combination."""

    grid: dict[str, list[str]]
    labels: list[str] = field(default_factory=list)
    configs: list[RunConfig] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # combinations left out as repeats (--drop-unused)

    def document(self) -> SweepPlanDocument:
        """The plan as `sweep --dry-run --json` prints it."""
        runs = [PlannedRun(name=label, config=config.to_dict()) for label, config in zip(self.labels, self.configs)]
        return SweepPlanDocument(grid=self.grid, runs=runs, dropped=self.dropped)


def split_values(text: str) -> list[str]:
    """`1e-4,2e-4` → two values; commas inside [] or {} belong to one value (`[q_proj,v_proj]`)."""
    values, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def parse_set(option: str) -> tuple[str, list[str]]:
    """`training.learning_rate=1e-4,2e-4` → (`training.learning_rate`, ["1e-4", "2e-4"])."""
    key, equals, values = option.partition("=")
    key = key.strip()
    if not equals or not key:
        raise UsageError(f"--set takes KEY=V1,V2,… (got {shorten(option)!r}), e.g. --set lora.r=8,16.")
    if has_control_characters(option):
        # A value becomes part of a run's name, which is shown on one line in every list.
        raise UsageError(
            f"--set {shorten(key)} holds a control character (a newline, tab or escape): "
            "give each value on one line, separated by commas."
        )
    parsed = split_values(values)
    if any(value == "" for value in parsed):
        raise UsageError(f"--set {shorten(key)} has an empty value: list values separated by commas.")
    seen: set[str] = set()
    for value in parsed:
        if value in seen:
            raise UsageError(
                f"--set {shorten(key)} lists {shorten(value)} twice, which would queue the same run twice: "
                "list each value once."
            )
        seen.add(value)
    return key, parsed


def _value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    target = data
    parts = key.split(".")
    for part in parts[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise UsageError(f"--set {shorten(key)}: {part} is a value, not a section.")
        target = nested
    target[parts[-1]] = value


def _label(combination: dict[str, str]) -> str:
    return ",".join(
        f"{SHORT_KEYS.get(key.split('.')[-1], key.split('.')[-1])}={value}" for key, value in combination.items()
    )


def plan_sweep(
    base: dict[str, Any], sets: list[str], *, max_runs: int = DEFAULT_MAX_RUNS, drop_unused: bool = False
) -> SweepPlan:
    """Expand `--set` options over `base` and check every combination (SweepError lists the bad ones).

    Two combinations that train the same run are refused: two spellings of one value, or a setting
    the method ignores (`lora.r` for full fine-tuning). With `drop_unused`, the repeats are left
    out instead (`SweepPlan.dropped` says which)."""
    if max_runs < 1:
        raise UsageError(f"--max-runs must be at least 1 (got {max_runs}).")
    if not sets:
        raise UsageError("A sweep needs at least one --set KEY=V1,V2,… to vary.")
    grid: dict[str, list[str]] = {}
    for option in sets:
        key, values = parse_set(option)
        if key in grid:
            raise UsageError(f"--set {shorten(key)} is given twice: list all its values in one --set.")
        grid[key] = values
    total = 1
    for choices in grid.values():
        total *= len(choices)
    if total > max_runs:
        raise UsageError(
            f"This grid makes {total} runs, more than --max-runs {max_runs}: "
            "raise --max-runs if you mean it, or vary fewer settings."
        )
    plan = SweepPlan(grid=grid)
    problems: list[str] = []
    # Each checked configuration (but its name) and the combination that made it: two values
    # that parse to the same setting (`1e-4` and `0.0001`) would queue the same run twice.
    made: dict[str, dict[str, str]] = {}
    repeated: tuple[dict[str, str], dict[str, str], RunConfig] | None = None
    for picked in itertools.product(*grid.values()):
        combination = dict(zip(grid, picked, strict=True))
        label = _label(combination)
        data = copy.deepcopy(base)
        try:
            for key, value in combination.items():
                _assign(data, key, _value(value))
            data["name"] = label if not base.get("name") else f"{base['name']}-{label}"
            config = parse_config(data, f"sweep run {label}")
        except ConfigError as error:
            problems.append(f"{label}: {error}")
            continue
        settings = json.dumps(effective_settings(config), sort_keys=True, default=str)
        if settings in made:
            if drop_unused and _unused_key(made[settings], combination, config):
                plan.dropped.append(label)
                continue
            repeated = repeated or (made[settings], combination, config)
            continue
        made[settings] = combination
        plan.labels.append(config.name or label)
        plan.configs.append(config)
    if problems:
        raise SweepError(
            f"{len(problems)} of {total} combinations are invalid, so nothing was queued: fix them and run the sweep again.",
            problems,
        )
    if repeated:  # every combination is valid, but two of them train the same run
        _refuse_same_run(*repeated)
    return plan


def _unused_key(first: dict[str, str], second: dict[str, str], config: RunConfig) -> str | None:
    """The key two combinations differ in that `config`'s method or objective ignores, if that is why
    they are the same."""
    return next((key for key in first if first[key] != second[key] and is_unused(config, key)), None)


def _refuse_same_run(first: dict[str, str], second: dict[str, str], config: RunConfig) -> None:
    """Two combinations make the same run: name the setting that changes nothing, or the values
    that mean the same."""
    ignored = _unused_key(first, second, config)
    if ignored is not None:
        section = ignored.split(".")[0]
        by_method = section in UNUSED_BY_METHOD.get(config.method, ())
        reader = f"method {config.method}" if by_method else f"objective {config.objective}"
        what = f"the {section} settings" if by_method else "it"
        raise UsageError(
            f"--set {shorten(ignored)} changes nothing for {reader} (it does not use {what}), so the sweep would "
            "train the same run more than once: leave it out, choose a method or objective that uses it, or add "
            "--drop-unused to skip the repeats."
        )
    key, one, other = next((key, first[key], second[key]) for key in first if first[key] != second[key])
    raise UsageError(
        f"--set {shorten(key)}: {shorten(one)} and {shorten(other)} are the same value, which would queue "
        "the same run twice: list each value once."
    )


def queue_sweep(
    plan: SweepPlan, *, base: dict[str, Any], gpus: list[str] | None = None, store: Store | None = None
) -> tuple[Sweep, list[Run]]:
    """Record the sweep and put every one of its runs in the queue, in grid order."""
    # Imported here: only queueing needs the queue (and its keeper lock), never a dry run.
    from tuitune.engine import queue

    store = store or open_store()
    queue.check_gpus(gpus)
    varied = " × ".join(SHORT_KEYS.get(key.split(".")[-1], key.split(".")[-1]) for key in plan.grid)
    sweep = store.create_sweep(name=f"{varied} ({len(plan.configs)} runs)", base_config=base, grid=plan.grid)
    runs = [queue.enqueue(config, gpus=gpus, sweep_id=sweep.id, store=store) for config in plan.configs]
    return sweep, runs


# What `sweep show --by` ranks on: lower is better for losses, higher for scores.
RANKINGS = {
    "eval_loss": True,
    "loss": True,
    "rouge1": False,
    "rouge2": False,
    "rougeL": False,
    "bleu": False,
    "perplexity": True,
}


def _setting(config: dict[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def sweep_results(sweep_id: int, *, by: str = "eval_loss", store: Store | None = None) -> SweepRanking:
    """The sweep's runs, best first by `by`, each with the settings the sweep varied."""
    if by not in RANKINGS:
        raise UsageError(f"--by takes one of {', '.join(RANKINGS)} (got {shorten(by)!r}).")
    store = store or open_store()
    sweep = store.get_sweep(sweep_id)
    runs = store.list_runs(sweep_id=sweep_id)
    scores = store.latest_scores(metric=by) if by not in ("eval_loss", "loss") else {}
    lower_is_better = RANKINGS[by]

    def value_of(run: Run) -> float | None:
        value = {"eval_loss": run.best_eval_loss, "loss": run.last_loss}.get(by, scores.get(run.id))
        return None if value is None else float(value)

    def order(run: Run) -> tuple[bool, float, int]:
        value = value_of(run)
        if value is None:
            return True, 0.0, run.id
        return False, value if lower_is_better else -value, run.id

    ranked = []
    for place, run in enumerate(sorted(runs, key=order), start=1):
        value = value_of(run)
        ranked.append(
            RankedRun(
                rank=place if value is not None else None,
                id=run.id,
                name=run.name,
                status=run.status,
                steps=run.steps_done,
                settings={key: _setting(run.config, key) for key in sweep.grid},
                value=value,
            )
        )
    return SweepRanking(sweep=SweepDocument.model_validate(sweep), by=by, runs=ranked)
