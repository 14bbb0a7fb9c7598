"""GRPO: the model learns from rewards for its own completions.

Real training on the demo model on a CPU: a built-in reward on a toy task (completions that start
with a digit) raises the mean reward from about 0 to above 0.5 within 40 steps; each check refuses
its bad case in one line before training; a user's reward file works and its hash is recorded, a
broken one is refused; sampled completions with their rewards are written as the run's events.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tuitune.config import DEMO_MODEL, RunConfig
from tuitune.engine.objectives.grpo_checks import check_generations, check_rewards, check_room
from tuitune.engine.objectives.grpo_samples import quoted
from tuitune.errors import IncompatibleConfigError, TuituneError
from tuitune.rewards import RECORD, RewardFunctionError, load_rewards
from tuitune.text.user_text import shorten

WORDS = ["apple", "river", "stone", "cloud", "green", "seven", "night", "bread"]


def grpo_config(**grpo: Any) -> RunConfig:
    """A GRPO run of the demo model that learns in a few seconds on a CPU: full fine-tuning at a
    high learning rate (the model is tiny and random), short completions, eight per prompt."""
    settings: dict[str, Any] = dict(rewards=["format"], format_pattern=r"^\d", num_generations=8)
    settings.update(max_completion_length=4, samples_shown=2)
    settings.update(grpo)
    return RunConfig.model_validate(
        {
            "objective": "grpo",
            "method": "full_finetuning",
            "model": {"name_or_path": DEMO_MODEL},
            "data": {"format": "prompts", "max_length": 64},
            "training": {
                "max_steps": 40,
                "batch_size": 16,
                "learning_rate": 3e-2,
                "lr_scheduler": "linear",
                "warmup_ratio": 0.0,
                "logging_steps": 5,
                "save_steps": 1000,
                "seed": 0,
            },
            "grpo": settings,
        }
    )


def prompt_rows(tokenizer: Any, count: int = 48) -> list[dict[str, Any]]:
    """Prompts as the data layer renders them (the demo's chatml), each naming a one-word answer."""
    from tuitune.data.examples import Message
    from tuitune.data.templates import get_template

    template = get_template("chatml", tokenizer)
    rows = []
    for index in range(count):
        word = WORDS[index % len(WORDS)]
        rows.append({"prompt": template.prompt([Message("user", f"Say {word}.")]), "answer": word})
    return rows


@pytest.fixture(scope="module")
def demo_tokenizer(demo_model_path: Path) -> Any:
    from tuitune.models.loading import load_tokenizer

    return load_tokenizer(RunConfig().model.model_copy(update={"name_or_path": DEMO_MODEL}))


def dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def prepared(rows: list[dict[str, Any]]) -> Any:
    """What `tuitune.data` hands the engine for prompts data: a `prompt` column and the others."""
    return SimpleNamespace(train=dataset(rows), validation=dataset([]))


def train(config: RunConfig, rows: list[dict[str, Any]], output: Path) -> tuple[Any, list[tuple[str, str]]]:
    """Build the run's trainer as the engine does and train it; the trainer and the run's events."""
    from tuitune.engine.arguments import training_arguments
    from tuitune.engine.methods import prepare_for_method
    from tuitune.engine.objectives import TrainerParts, build_trainer
    from tuitune.models.loading import load_model, load_tokenizer

    events: list[tuple[str, str]] = []

    def note(message: str, level: str = "info") -> None:
        events.append((message, level))

    tokenizer = load_tokenizer(config.model)
    model = prepare_for_method(load_model(config.model, for_training=True), config, note)
    args = training_arguments(config, output, has_validation=False)
    parts = TrainerParts(config, model, tokenizer, prepared(rows), args, [], None, output, note)
    trainer = build_trainer(parts)
    trainer.train()
    return trainer, events


def rewards_logged(trainer: Any) -> list[float]:
    return [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]


@pytest.mark.integration  # trains
def test_a_builtin_reward_on_a_toy_task_lifts_the_mean_reward_from_zero_above_half(
    demo_tokenizer: Any, tmp_path: Path
) -> None:
    trainer, events = train(grpo_config(), prompt_rows(demo_tokenizer), tmp_path)
    rewards = rewards_logged(trainer)
    assert rewards[0] < 0.15, rewards  # random completions rarely start with a digit
    assert max(rewards[-2:]) > 0.5, rewards
    messages = [message for message, _ in events]
    assert "reward: format (built in)" in messages
    assert any(m.startswith("reference: none") for m in messages)
    samples = [m for m in messages if m.startswith("sample at step ")]
    # Two per log (samples_shown), the best and the worst of the batch, with their rewards.
    assert len(samples) == 2 * len(rewards), samples
    assert all("[format " in m and "(answer " in m and "\n" not in m for m in samples)
    recorded = json.loads((tmp_path / RECORD).read_text())
    assert recorded == {"rewards": [{"spec": "format", "name": "format", "path": None, "sha256": None}]}


def refused(error: pytest.ExceptionInfo[TuituneError], *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_generations_that_do_not_divide_the_effective_batch_are_refused_with_the_values_that_would() -> None:
    config = grpo_config(num_generations=3)
    config.training.batch_size, config.training.gradient_accumulation_steps = 4, 2
    with pytest.raises(IncompatibleConfigError) as error:
        check_generations(config, 1)
    refused(error, "num_generations 3", "effective batch of 8", "batch size 4 × gradient accumulation 2", "2, 4, 8")
    check_generations(config, 3)  # 24 completions: whole groups of 3
    config.grpo.num_generations = 4
    check_generations(config, 1)


def test_the_trainer_arguments_refuse_them_too(tmp_path: Path) -> None:
    from tuitune.engine.arguments import training_arguments

    config = grpo_config(num_generations=5)
    with pytest.raises(IncompatibleConfigError) as error:
        training_arguments(config, tmp_path, has_validation=False)
    refused(error, "num_generations 5", "16 completions")
    args = training_arguments(grpo_config(), tmp_path, has_validation=True)
    assert (args.num_generations, args.max_completion_length, args.beta) == (8, 4, 0.0)
    assert args.metric_for_best_model == "reward" and args.greater_is_better
    assert args.per_device_eval_batch_size % 8 == 0


def test_a_prompt_that_leaves_no_room_for_the_completion_is_refused_and_a_tight_one_warned(
    demo_tokenizer: Any,
) -> None:
    rows = dataset(prompt_rows(demo_tokenizer, 4))
    longest = max(len(ids) for ids in demo_tokenizer(list(rows["prompt"]))["input_ids"])
    config = grpo_config()
    config.data.max_length = longest
    with pytest.raises(IncompatibleConfigError) as error:
        check_room(config, rows, demo_tokenizer)
    refused(error, f"longest prompt is {longest} tokens", "no room", f"at least {longest + 4}")
    config.data.max_length = longest + 2
    (warning,) = check_room(config, rows, demo_tokenizer)
    assert f"runs to {longest + 4} tokens" in warning and "grpo.max_completion_length to 2" in warning
    config.data.max_length = longest + 4
    assert check_room(config, rows, demo_tokenizer) == []


def test_the_builtin_rewards_score_each_completion_between_0_and_1() -> None:
    config = grpo_config(rewards=["exact_match", "numeric_match", "format", "length"], format_pattern=r"^\d+$")
    config.grpo.target_length = 4
    exact, numeric, fmt, length = (reward.function for reward in load_rewards(config.grpo))
    completions = [" Apple. ", "apples", "The answer is 1,234.", "12", ""]
    answers = ["apple", "apple", "1234", "12.0", "x"]
    assert exact(prompts=[""] * 5, completions=completions, answer=answers) == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert numeric(prompts=[""] * 5, completions=completions, answer=answers) == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert fmt(prompts=[""] * 5, completions=completions) == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert length(prompts=[""] * 5, completions=completions) == [4 / 6, 4 / 6, 4 / 20, 0.5, 0.0]
    # TRL's conversational completions: a list of messages.
    assert exact(prompts=[""], completions=[[{"role": "assistant", "content": "apple"}]], answer=["Apple"]) == [1.0]


def test_a_format_pattern_that_backtracks_for_ever_scores_0_instead_of_hanging_the_run() -> None:
    # ^(a+)+$ on a long run of a's that ends wrong backtracks 2**n times (a request can set the
    # pattern through `tuitune serve`): each match has a time limit, and a completion that needs
    # more scores 0 while the others score as they should.
    (fmt,) = (
        reward.function for reward in load_rewards(grpo_config(rewards=["format"], format_pattern=r"^(a+)+$").grpo)
    )
    assert fmt(prompts=[""] * 2, completions=["a" * 60 + "!", "aaa"]) == [0.0, 1.0]
    with pytest.raises(ValueError, match="at most 500 characters"):
        grpo_config(rewards=["format"], format_pattern="a" * 501)


def test_an_answer_column_the_data_lacks_is_refused_before_training(demo_tokenizer: Any) -> None:
    config = grpo_config(rewards=["numeric_match"], answer_column="solution")
    with pytest.raises(RewardFunctionError) as error:
        check_rewards(load_rewards(config.grpo), dataset(prompt_rows(demo_tokenizer, 4)), demo_tokenizer)
    refused(error, "numeric_match", "column solution", "columns: answer", "grpo.answer_column")


def reward_file(folder: Path, body: str, name: str = "my_rewards.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_users_reward_file_is_loaded_and_its_hash_recorded(tmp_path: Path, demo_tokenizer: Any) -> None:
    path = reward_file(
        tmp_path,
        """
        def says_the_word(prompts, completions, answer, **columns):
            return [1.0 if a in c else 0.0 for c, a in zip(completions, answer)]
        """,
    )
    config = grpo_config(rewards=[f"{path}:says_the_word", "format"])
    rewards = load_rewards(config.grpo)
    use = rewards[0].use
    assert (use.name, use.path, use.sha256) == (
        "says_the_word",
        str(path),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    # The path as every message shows one (its middle elided when long: pytest-xdist's are).
    assert use.describe() == f"reward: says_the_word from {shorten(path)} (sha256 {use.sha256})"
    check_rewards(rewards, dataset(prompt_rows(demo_tokenizer, 4)), demo_tokenizer)
    assert rewards[0].function(prompts=["p"], completions=["an apple"], answer=["apple"]) == [1.0]

    from tuitune.engine.objectives.grpo import record_rewards

    events: list[tuple[str, str]] = []
    record_rewards(rewards, tmp_path / "run", lambda message, level="info": events.append((message, level)))
    assert [message for message, _ in events] == [use.describe(), "reward: format (built in)"]
    recorded = json.loads((tmp_path / "run" / RECORD).read_text())["rewards"]
    assert recorded[0] == {
        "spec": f"{path}:says_the_word",
        "name": "says_the_word",
        "path": str(path),
        "sha256": use.sha256,
    }
    # Resumed after the file changed: the run says so.
    path.write_text(path.read_text() + "\n# changed\n", encoding="utf-8")
    events.clear()
    record_rewards(
        load_rewards(config.grpo), tmp_path / "run", lambda message, level="info": events.append((message, level))
    )
    assert any(level == "warning" and "changed since this run began" in message for message, level in events)


BROKEN = {
    "a missing file": (None, "missing.py:f", ("does not exist", "missing.py")),
    "a file that fails to import": ("import nothing_of_that_name\n", "{path}:f", ("importing", "ModuleNotFoundError")),
    "a file without the function": (
        "def other(prompts, completions, **kw):\n    return []\n",
        "{path}:f",
        ("has no function f", "it defines other"),
    ),
    "a name that is not a function's": ("", "{path}:not-a-name", ("does not end in a function's name",)),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_reward_file_is_refused_in_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, spec, words = BROKEN[case]
    monkeypatch.chdir(tmp_path)
    path = reward_file(tmp_path, body) if body is not None else tmp_path / "missing.py"
    config = grpo_config(rewards=[spec.format(path=path)])
    with pytest.raises(RewardFunctionError) as error:
        load_rewards(config.grpo)
    refused(error, "grpo.rewards", *words)


FAILING = {
    "raises": ("return [1 / 0 for c in completions]", ("raised ZeroDivisionError", "division by zero")),
    "returns too few": ("return [1.0]", ("returned 1 rewards for 4 completions",)),
    "returns text": ("return ['good' for c in completions]", ("returned 'good'",)),
    "returns no list": ("return 1.0", ("returned 1.0, not a list",)),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_a_reward_function_that_fails_on_a_sample_is_refused_before_training(
    case: str, tmp_path: Path, demo_tokenizer: Any
) -> None:
    body, words = FAILING[case]
    path = reward_file(tmp_path, f"def scored(prompts, completions, **columns):\n    {body}\n")
    rewards = load_rewards(grpo_config(rewards=[f"{path}:scored"]).grpo)
    with pytest.raises(RewardFunctionError) as error:
        check_rewards(rewards, dataset(prompt_rows(demo_tokenizer, 4)), demo_tokenizer)
    refused(error, "grpo.rewards: scored", *words)


def test_samples_are_shown_as_one_escaped_line() -> None:
    assert quoted("two\nlines\t\x1b[31mred") == '"two\\nlines\\t\\u001b[31mred"'
    assert quoted("\x9b31m") == '"\\x9b31m"'
    assert len(quoted("x" * 1000)) < 200


@pytest.mark.integration  # trains through the CLI and its worker
def test_a_grpo_run_with_a_users_reward_file_trains_through_the_cli_and_is_stored(
    tmp_path: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import cli_json
    from tuitune.store import open_store

    monkeypatch.chdir(tmp_path)  # the reward file is named relative to here, the worker runs elsewhere
    path = reward_file(
        tmp_path,
        """
        def starts_with_a_digit(prompts, completions, answer, **columns):
            return [float(completion[:1].isdigit()) for completion in completions]
        """,
    )
    config = grpo_config(rewards=["format"]).model_dump(mode="json", exclude_none=True)
    config["data"] = {"source": "tuitune/sample-prompts", "max_length": 64}
    config["training"]["save_steps"] = 20
    (tmp_path / "grpo.json").write_text(json.dumps(config))
    document = cli_json("train", "-c", "grpo.json", "--reward", f"{path.name}:starts_with_a_digit", "--name", "digits")
    assert document["status"] == "completed", document
    store = open_store()
    run_id = document["run_id"]
    points = [p.extra for p in store.metric_points(run_id) if "reward" in (p.extra or {})]
    rewards = [point["reward"] or 0.0 for point in points]
    assert rewards[0] < 0.15 and rewards[-1] > 0.5, rewards
    assert "rewards/starts_with_a_digit/mean" in points[-1]
    # Its speed counts the prompt and completion tokens it trained on (its batches are prompts).
    run = store.get_run(run_id)
    assert run.tokens_per_second and run.tokens_per_second > 0
    assert all(p.tokens_per_second for p in store.metric_points(run_id) if p.loss is not None)
    messages = [event.message for event in store.events(run_id)]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"reward: starts_with_a_digit from {shorten(path)} (sha256 {digest})" in messages
    assert any(m.startswith("sample at step 40: reward ") for m in messages)
    folder = Path(str(store.get_run(run_id).output_dir))
    assert json.loads((folder / RECORD).read_text())["rewards"][0]["sha256"] == digest
    assert (folder / "model" / "config.json").is_file()
