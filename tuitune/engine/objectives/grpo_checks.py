"""What a GRPO run is checked for before the GPU is spent (the engine's preflight calls these).

- The completions sampled per prompt must fill the effective batch in whole groups: TRL generates
  batch size × gradient accumulation × processes completions at a time, `num_generations` per prompt.
- Every reward function is called once on a sample of the training data with a dummy completion:
  it must not raise, and must return one number per completion.
- Every prompt must leave room for a completion within `data.max_length` (a warning when the room
  is shorter than `grpo.max_completion_length`).
"""

from __future__ import annotations

import numbers
import os
from typing import Any

from tuitune.config import MAX_GENERATIONS, RunConfig
from tuitune.errors import IncompatibleConfigError, TuituneError
from tuitune.rewards import Reward, RewardFunctionError, load_rewards
from tuitune.text.user_text import excerpt, literal

SAMPLE_ROWS = 4  # rows of the training data each reward function is tried on
DUMMY_COMPLETION = "A sample completion: 42."


def processes(config: RunConfig) -> int:
    """The run's processes: the launched group's (WORLD_SIZE in a rank), else what the config asks.

    A group sized by the GPUs it is given (no `distributed.nproc`) counts one per machine here and
    is checked again in each of its ranks, which know their number (engine.group, which counts
    the GPUs, imports the runner: it cannot be imported from a check the runner calls)."""
    launched = os.environ.get("WORLD_SIZE")
    if launched:
        return int(launched)
    return (config.distributed.nproc or 1) * config.distributed.nnodes


def check_generations(config: RunConfig, process_count: int) -> None:
    """Refuse `grpo.num_generations` that does not divide the effective batch, naming values that would."""
    t, generations = config.training, config.grpo.num_generations
    effective = t.batch_size * t.gradient_accumulation_steps * process_count
    if effective % generations == 0:
        return
    fitting = [n for n in range(2, min(effective, MAX_GENERATIONS) + 1) if effective % n == 0]
    values = ", ".join(map(str, fitting)) if fitting else "none (raise --batch-size to at least 2)"
    made_of = f"batch size {t.batch_size} × gradient accumulation {t.gradient_accumulation_steps}"
    made_of += f" × {process_count} process{'es' if process_count > 1 else ''}"
    raise IncompatibleConfigError(
        f"grpo.num_generations {generations} does not divide the effective batch of {effective} completions "
        f"({made_of}): use num_generations {values}, or a batch size that is a multiple of {generations}."
    )


def check_rewards(rewards: list[Reward], train: Any, tokenizer: Any) -> None:
    """Call each reward function once on a sample of `train` with a dummy completion; refuse one
    that raises, or does not return one number per completion."""
    rows = [train[index] for index in range(min(SAMPLE_ROWS, len(train)))]
    if not rows:
        return
    prompts = [row["prompt"] for row in rows]
    completions = [DUMMY_COMPLETION] * len(rows)
    columns = {key: [row[key] for row in rows] for key in rows[0] if key not in ("prompt", "completion")}
    ids = tokenizer(DUMMY_COMPLETION, add_special_tokens=False)["input_ids"]
    extras = _trl_keywords()
    for reward in rewards:
        name = reward.use.name
        try:
            values = reward.function(
                prompts=prompts, completions=completions, completion_ids=[list(ids)] * len(rows), **columns, **extras
            )
        except TuituneError:
            raise
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise RewardFunctionError(
                f"grpo.rewards: {name} raised {type(error).__name__} ({literal(first[:200])}) when tried on "
                f"{len(rows)} training rows with a dummy completion: fix it (it gets prompts, completions and "
                f"the columns {', '.join(columns) or 'none'} by name)."
            ) from None
        _check_values(name, values, len(rows))


def _check_values(name: str, values: Any, expected: int) -> None:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise RewardFunctionError(
            f"grpo.rewards: {name} returned {excerpt(values)}, not a list: return one float per completion."
        )
    if len(values) != expected:
        raise RewardFunctionError(
            f"grpo.rewards: {name} returned {len(values)} rewards for {expected} completions: "
            "return one float per completion."
        )
    for value in values:
        if value is None:
            continue  # TRL's "no reward for this one"
        if not isinstance(value, numbers.Real) and not hasattr(value, "__float__"):  # numpy's and torch's too
            raise RewardFunctionError(
                f"grpo.rewards: {name} returned {excerpt(value)} among its rewards: return one float (or None) "
                "per completion."
            )


def _trl_keywords() -> dict[str, Any]:
    """What TRL passes every reward function besides the data's columns."""
    # Imported here: the preflight that calls this has loaded transformers already.
    from transformers import TrainerState

    return {"trainer_state": TrainerState(), "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}


def check_room(config: RunConfig, train: Any, tokenizer: Any) -> list[str]:
    """Refuse prompts that leave no room for a completion within `data.max_length` (a prompt and
    its completion are one sequence of at most that many tokens); return a warning when the room
    left is shorter than `grpo.max_completion_length` (TRL samples that many tokens whatever the
    prompt's length, so such sequences run longer than `data.max_length`)."""
    prompts = list(train["prompt"]) if len(train) else []
    if not prompts:
        return []
    # TRL tokenizes prompts this way (special tokens added) before it generates.
    longest = max(len(ids) for ids in tokenizer(prompts)["input_ids"])
    max_length, wanted = config.data.max_length, config.grpo.max_completion_length
    room = max_length - longest
    if room < 1:
        raise IncompatibleConfigError(
            f"The longest prompt is {longest} tokens and data.max_length is {max_length}: no room is left for a "
            f"completion. Raise --max-length to at least {longest + wanted}, or shorten the prompts."
        )
    if room < wanted:
        return [
            f"the longest prompt ({longest} tokens) with a whole completion (grpo.max_completion_length {wanted}) "
            f"runs to {longest + wanted} tokens, past data.max_length {max_length}: raise --max-length to "
            f"{longest + wanted}, or lower grpo.max_completion_length to {room}"
        ]
    return []


def check_grpo(config: RunConfig, tokenizer: Any, prepared: Any) -> list[str]:
    """Every GRPO check the data and the reward functions allow before training (the generations
    are checked with the trainer's arguments); returns the warnings."""
    warnings = check_room(config, prepared.train, tokenizer)
    check_rewards(load_rewards(config.grpo), prepared.train, tokenizer)
    return warnings
