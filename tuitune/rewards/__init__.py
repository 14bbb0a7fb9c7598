"""GRPO's reward functions: the built-in ones that need no code, and a user's own from a Python file.
Training (tuitune.engine) and evaluation (tuitune.evaluation) both score completions with them.

Every reward function has TRL's signature, `f(prompts, completions, **columns) -> list[float]`:
one reward per completion, with every other column of the data (a reference `answer`, …) passed
by name, one value per completion. The built-in ones return a float in [0, 1]:

- `exact_match`: the completion is the answer column's text (case, surrounding spaces and a
  closing full stop or quotes aside);
- `numeric_match`: the last number in the completion equals the answer's (`1,234` is 1234);
- `format`: the completion matches `grpo.format_pattern` (a search with a time limit; anchor it with ^ and $);
- `length`: how close the completion's length in characters is to `grpo.target_length`
  (shorter over longer: 1 on target, 0.5 at half or twice the length).

A user's function is named `path/to/file.py:function` and loaded with importlib. Which functions a
run used, and each file's sha256, are said in the run's events and written to `rewards.json` in
its folder. Nothing here imports torch.
"""

from tuitune.rewards.builtin import (
    RewardFunction,
    RewardFunctionError,
    completion_text,
    exact_match_reward,
    format_reward,
    last_number,
    length_reward,
    normalise,
    numeric_match_reward,
)
from tuitune.rewards.loading import (
    RECORD,
    Reward,
    RewardUse,
    file_sha256,
    load_rewards,
    split_spec,
    with_absolute_files,
)
from tuitune.rewards.scoring import RewardScores, score_completions

__all__ = [
    "RECORD",
    "Reward",
    "RewardFunction",
    "RewardFunctionError",
    "RewardScores",
    "RewardUse",
    "completion_text",
    "exact_match_reward",
    "file_sha256",
    "format_reward",
    "last_number",
    "length_reward",
    "load_rewards",
    "normalise",
    "numeric_match_reward",
    "score_completions",
    "split_spec",
    "with_absolute_files",
]
