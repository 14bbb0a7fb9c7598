"""A user evaluates a preference or GRPO run and sees whether it learned what its objective asks.

A DPO (and a KTO) run on the bundled preference sample now prefers the chosen answers of pairs it never saw
(its held-out reward accuracy rises above the base's, which is 0: the base is its own reference);
a GRPO run's greedy completions earn more of its reward than the base's. Both train for real on
the demo model, once for the module; the scores are kept on the run, and `tuitune eval`,
`tuitune show --json` and the app's Evaluations tab show them. The arithmetic of the scores
(ties, kto's labelled answers, TRL's weighted totals) is checked without a model.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import tuitune
from tests.cli_inprocess import run_inprocess
from tests.test_grpo import grpo_config
from tests.trained_runs import Trained, home_env, new_home
from tuitune.bundled import SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.config import ConfigBuilder, GrpoSettings, RunConfig
from tuitune.data.preference import PreferenceRow
from tuitune.evaluation import evaluate_run
from tuitune.evaluation.logprobs import LogProb
from tuitune.evaluation.preference import PairSet, preference_scores, rewards
from tuitune.rewards import RewardFunctionError, load_rewards, score_completions
from tuitune.store import BASE, COMPLETED, FINETUNED, Evaluation, open_store
from tuitune.tui.screens.detail import evaluations_view


def dpo_config(objective: str = "dpo") -> RunConfig:
    """DPO (or kto, which learns from the pairs' answers one by one, labelled good and bad) with a
    LoRA adapter on 120 of the sample's pairs, 16 held out: the pairs are learnable, and a few
    dozen steps at this rate teach the tiny model to prefer the chosen answers."""
    return (
        ConfigBuilder()
        .demo()
        .method("lora")
        .objective(objective)
        .data(SAMPLE_PREFERENCE, max_samples=136, validation_split=16)
        .training(
            max_steps=16,
            batch_size=4,
            learning_rate=5e-4,
            lr_scheduler="constant",
            warmup_ratio=0.0,
            logging_steps=4,
            eval_steps=1000,
            save_steps=1000,
        )
        .evaluation(samples=16, max_new_tokens=4)
        .name(f"{objective}-eval")
        .build()
    )


def grpo_run_config() -> RunConfig:
    """test_grpo's toy (a completion that starts with a digit earns the format reward) on the
    bundled prompts, 16 held out."""
    config = grpo_config().model_dump(mode="json", exclude_none=True)
    config["data"] = {"source": SAMPLE_PROMPTS, "max_length": 64, "validation_split": 16}
    config["training"].update(max_steps=20, eval_steps=1000)
    config["evaluation"] = {"samples": 16}
    config["name"] = "grpo-eval"
    return RunConfig.model_validate(config)


def trained(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, config: RunConfig) -> Trained:
    home = new_home(tmp_path_factory, shared_models_dir, str(config.name))
    with home_env(home):
        result = tuitune.train(config)
    assert result.status == COMPLETED, result
    return Trained(home, result.run_id)


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    return trained(tmp_path_factory, shared_models_dir, dpo_config())


@pytest.fixture(scope="module")
def kto_run(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    return trained(tmp_path_factory, shared_models_dir, dpo_config("kto"))


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    return trained(tmp_path_factory, shared_models_dir, grpo_run_config())


def screen_text(renderable: Any) -> str:
    console = Console(width=160, record=True)
    console.print(renderable)
    return console.export_text()


@pytest.mark.integration  # trains
def test_a_dpo_run_prefers_the_chosen_answers_of_held_out_pairs_more_than_its_base(
    dpo_run: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(dpo_run.home))
    store = open_store()
    run = store.get_run(dpo_run.run_id)
    report = evaluate_run(run, compare_base=True)

    assert report.base is not None and report.improvements is not None
    tuned, base = report.finetuned, report.base
    assert tuned["reward_accuracy"] > base["reward_accuracy"], (tuned, base)  # the bar
    assert tuned["reward_accuracy"] >= 0.75 and tuned["reward_margin"] > 0, tuned
    # The base is its own reference: its implicit reward is 0 for every answer.
    assert base["reward_accuracy"] == 0 and base["reward_margin"] == 0
    assert report.improvements["reward_accuracy"] == tuned["reward_accuracy"]
    # The reward scores first, then the generation metrics against the chosen answers.
    assert list(tuned) == ["reward_accuracy", "reward_margin", "rouge1", "rouge2", "rougeL", "bleu", "perplexity"]
    assert report.sample_count == 16 and report.settings["pairs"] == 16 and report.settings["objective"] == "dpo"
    first = report.samples[0]
    assert first["reference"] and "finetuned" in first and "base" in first

    # Kept on the run, as every evaluation is: show --json hands them back.
    latest = {e.label: e for e in reversed(store.evaluations(run.id))}
    assert latest[FINETUNED].metrics == tuned and latest[BASE].metrics == base
    shown = run_inprocess("show", str(run.id), "--json")
    assert shown.returncode == 0, shown.stderr
    entries = json.loads(shown.stdout)["evaluations"]
    assert entries[0]["label"] == FINETUNED and entries[0]["metrics"]["reward_accuracy"] == tuned["reward_accuracy"]

    # The app's Evaluations tab: the rows, and what they mean.
    text = screen_text(evaluations_view(store.evaluations(run.id), lambda action: "e"))
    words = " ".join(text.split())
    assert "reward_accuracy" in words and "reward_margin" in words and "its own reference" in words

    # Without --compare-base the base is still read, as the reference: the same accuracy.
    printed = run_inprocess("eval", str(run.id), "--metrics", "rougeL")
    assert printed.returncode == 0, printed.stderr
    words = " ".join(printed.stdout.split())  # rich wraps long lines at the console's width
    assert "reward accuracy" in words and "reward margin" in words and "ROUGE-L" in words
    assert "beats the rejected one's" in words
    alone = store.evaluations(run.id)[0]
    assert alone.label == FINETUNED and alone.metrics["reward_accuracy"] == pytest.approx(tuned["reward_accuracy"])
    assert alone.metrics["reward_margin"] == pytest.approx(tuned["reward_margin"], rel=1e-4)


@pytest.mark.integration  # trains
def test_a_kto_run_prefers_the_chosen_answers_of_held_out_pairs_more_than_its_base(
    kto_run: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(kto_run.home))
    store = open_store()
    run = store.get_run(kto_run.run_id)
    printed = run_inprocess("eval", str(run.id), "--compare-base", "--metrics", "rougeL", "--json")
    assert printed.returncode == 0, printed.stderr
    report = json.loads(printed.stdout)
    tuned, base = report["finetuned"], report["base"]
    # kto's reward is dpo's (against the base, its reference): the base's is 0 for every answer.
    assert base["reward_accuracy"] == 0 and base["reward_margin"] == 0, base
    assert tuned["reward_accuracy"] > base["reward_accuracy"] and tuned["reward_margin"] > 0, tuned
    assert report["settings"]["objective"] == "kto" and report["settings"]["pairs"] == 16
    assert "beta × (log-probability" in report["settings"]["reward_meaning"]
    latest = {e.label: e for e in reversed(store.evaluations(run.id))}
    assert latest[FINETUNED].metrics["reward_accuracy"] == tuned["reward_accuracy"]


@pytest.mark.integration  # trains
def test_a_grpo_runs_greedy_completions_earn_more_reward_than_its_bases(
    grpo_run: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(grpo_run.home))
    store = open_store()
    run = store.get_run(grpo_run.run_id)
    report = evaluate_run(run, compare_base=True, metrics="rougeL")

    assert report.base is not None
    tuned, base = report.finetuned, report.base
    assert tuned["reward"] > base["reward"], (tuned, base)
    assert list(tuned) == ["reward", "rewards/format", "rougeL"]  # in total and per function
    assert tuned["rewards/format"] == tuned["reward"]  # one function, weight 1
    assert report.settings["rewards"] == ["format"]
    assert report.settings["max_new_tokens"] == 4  # grpo.max_completion_length: as its rewards were earned
    assert report.sample_count == 16
    first = report.samples[0]
    assert set(first) >= {"prompt", "finetuned", "base", "finetuned_reward", "base_reward"}
    assert first["finetuned_reward"] in (0.0, 1.0)

    evaluation = store.evaluations(run.id)[0]
    assert evaluation.label == FINETUNED and evaluation.metrics == tuned
    text = screen_text(evaluations_view(store.evaluations(run.id), lambda action: "e"))
    assert "rewards/format" in text and "fine-tuned (reward " in text


# --- the scores' arithmetic, without a model ------------------------------------------------


def pair_rows(count: int) -> PairSet:
    return PairSet(rows=[PreferenceRow("p", chosen="a", rejected="b") for _ in range(count)])


def test_a_pair_counts_when_its_chosen_answer_earns_more_and_a_tie_counts_for_nothing() -> None:
    # chosen, rejected for three pairs: preferred, tied, reversed.
    scores = preference_scores(pair_rows(3), [2.0, 1.0, 0.5, 0.5, 0.0, 1.0])
    assert scores["reward_accuracy"] == pytest.approx(1 / 3)
    assert scores["reward_margin"] == pytest.approx((1.0 + 0.0 - 1.0) / 3)


def test_kto_labelled_answers_count_when_their_reward_has_their_labels_sign() -> None:
    rows = PairSet(
        rows=[
            PreferenceRow("p", completion="good", label=True),
            PreferenceRow("p", completion="bad", label=False),
            PreferenceRow("p", completion="bad", label=False),
        ]
    )
    scores = preference_scores(rows, [0.4, -0.2, 0.0])  # a reward of 0 agrees with neither label
    assert scores["reward_accuracy"] == pytest.approx(2 / 3)
    assert scores["reward_margin"] == pytest.approx(0.4 - (-0.2 + 0.0) / 2)


def test_dpo_rewards_are_against_the_reference_and_simpo_rewards_per_token() -> None:
    policy = [LogProb(-4.0, 4), LogProb(-9.0, 3)]
    reference = [LogProb(-6.0, 4), LogProb(-8.0, 3)]
    assert rewards("dpo", 0.5, policy, reference) == pytest.approx([1.0, -0.5])
    assert rewards("kto", 0.5, reference, reference) == [0.0, 0.0]  # the base against itself
    assert rewards("simpo", 2.0, policy, None) == pytest.approx([-2.0, -6.0])
    with pytest.raises(ValueError):
        rewards("dpo", 0.1, policy, None)


def test_rewards_are_totalled_as_trl_totals_them() -> None:
    settings = GrpoSettings(rewards=["format", "exact_match"], format_pattern=r"^\d", reward_weights=[2.0, 1.0])
    functions = load_rewards(settings)
    scores = score_completions(
        functions, ["q"] * 3, ["7", "seven", "8 "], {"answer": ["7", "seven", None]}, weights=settings.reward_weights
    )
    assert scores.per_function == {"format": [1.0, 0.0, 1.0], "exact_match": [1.0, 1.0, 0.0]}
    assert scores.totals == [3.0, 1.0, 2.0]
    assert scores.mean == pytest.approx(2.0) and scores.means() == pytest.approx(
        {"format": 2 / 3, "exact_match": 2 / 3}
    )


def test_a_reward_function_that_fails_at_evaluation_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def short(prompts, completions, **columns):\n    return [1.0]\n")
    (function,) = load_rewards(GrpoSettings(rewards=[f"{path}:short"]))
    with pytest.raises(RewardFunctionError) as error:
        score_completions([function], ["q", "q"], ["a", "b"], {})
    message = str(error.value)
    assert "\n" not in message and "short" in message and "one float (or None) per completion" in message


def test_the_evaluations_tab_says_what_a_reward_score_means_and_an_sft_runs_tab_does_not() -> None:
    def evaluation(label: str, metrics: dict[str, float], settings: dict[str, Any]) -> Evaluation:
        sample = {"prompt": "q", "reference": "7", "finetuned": "7", "base": "x"}
        return Evaluation(1, 1, label, metrics, 1, settings, [sample], datetime(2026, 1, 1))

    meaning = {"reward_meaning": "reward: the run's reward functions on greedy completions"}
    grpo = screen_text(
        evaluations_view(
            [evaluation(FINETUNED, {"reward": 1.0}, meaning), evaluation(BASE, {"reward": 0.0}, meaning)],
            lambda action: "e",
        )
    )
    assert "reward: the run's reward functions on greedy completions" in grpo and "▲ 1.0000 better" in grpo
    sft = screen_text(evaluations_view([evaluation(FINETUNED, {"rougeL": 0.5}, {})], lambda action: "e"))
    assert "rougeL" in sft and "reward" not in sft
