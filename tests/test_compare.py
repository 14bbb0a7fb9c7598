"""A user compares runs side by side: what settings differ, how far each got, and how each scored."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import assert_one_line_error, cli, cli_json
from tuitune.config import ConfigBuilder
from tuitune.runs import metrics, present
from tuitune.runs.compare import compare_runs, config_differences, flatten, only_in
from tuitune.runs.documents import run_document
from tuitune.store import COMPLETED, RUNNING, open_store


def _record_run(
    store, name: str, *, lr: float, r: int, train_loss: float, eval_losses: list[float], rouge: float | None
):
    """A run as the engine leaves it: config, metric points, final numbers, an evaluation."""
    config = ConfigBuilder().demo().name(name).training(learning_rate=lr, max_steps=20).lora(r=r).build().to_dict()
    config["training"]["output_dir"] = f"/somewhere/{name}"  # differs by nature, never reported
    run = store.create_run(name=name, config=config, model="tuitune/demo", method="lora", dataset="tuitune/sample")
    store.set_status(run.id, RUNNING)
    points = [
        {"step": 2 * (i + 1), "epoch": 0.1 * (i + 1), "loss": train_loss + 0.5 * (len(eval_losses) - i)}
        for i in range(len(eval_losses))
    ]
    points += [{"step": 2 * (i + 1), "epoch": 0.1 * (i + 1), "eval_loss": value} for i, value in enumerate(eval_losses)]
    store.add_metric_points(run.id, points)
    store.heartbeat(run.id, steps_done=20, steps_total=20, tokens_per_second=1234.5)
    store.update_run(run.id, train_loss=train_loss)
    store.set_status(run.id, COMPLETED)
    if rouge is not None:
        store.add_evaluation(run.id, label="base", metrics={"rougeL": 0.1}, sample_count=5, settings={}, samples=[])
        store.add_evaluation(
            run.id,
            label="finetuned",
            metrics={"rougeL": rouge, "bleu": rouge / 2},
            sample_count=5,
            settings={},
            samples=[],
        )
    return store.get_run(run.id)


def test_comparison_shows_only_the_differing_settings_the_losses_and_the_latest_scores() -> None:
    store = open_store()
    fast = _record_run(store, "fast", lr=1e-3, r=8, train_loss=1.5, eval_losses=[2.5, 2.0, 2.2], rouge=0.4)
    slow = _record_run(store, "slow", lr=1e-4, r=16, train_loss=2.5, eval_losses=[3.0, 2.9], rouge=None)

    comparison = compare_runs([fast, slow], store)

    assert comparison.differences == {"lora.r": [8, 16], "training.learning_rate": [1e-3, 1e-4]}
    first, second = comparison.runs
    assert (first.name, second.name) == ("fast", "slow")
    assert first.train_loss == 1.5 and second.train_loss == 2.5
    assert first.eval_loss == 2.2 and first.best_eval_loss == 2.0
    assert first.steps == 20 and first.tokens_per_second == 1234.5
    assert first.duration_seconds is not None
    assert first.scores == {"rougeL": 0.4, "bleu": 0.2} and first.base_scores == {"rougeL": 0.1}
    assert second.scores == {}
    assert comparison.metrics == ["rougeL", "bleu"]
    # The loss curves for the overlay chart: every logged point, in step order.
    curve = comparison.curves[fast.id]
    assert [p.step for p in curve if p.eval_loss is not None] == [2, 4, 6]
    assert [p.loss for p in curve if p.loss is not None] == [3.0, 2.5, 2.0]


def test_dotted_keys_and_missing_keys() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    assert config_differences([{"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}]) == {"a.c": [None, 2]}
    assert config_differences([{"name": "x", "a": 1}, {"name": "y", "a": 1}]) == {}


@pytest.mark.integration
def test_compare_command_prints_one_json_document_and_a_readable_table() -> None:
    store = open_store()
    a = _record_run(store, "alpha", lr=1e-3, r=8, train_loss=1.2, eval_losses=[2.0], rouge=0.5)
    b = _record_run(store, "beta", lr=1e-3, r=4, train_loss=1.4, eval_losses=[2.1], rouge=0.3)

    document = cli_json("compare", "alpha", str(b.id))
    assert [run["name"] for run in document["runs"]] == ["alpha", "beta"]
    assert document["differences"] == {"lora.r": [8, 4]}
    assert document["runs"][0]["scores"]["rougeL"] == 0.5
    assert [p["eval_loss"] for p in document["curves"][str(a.id)] if p["eval_loss"] is not None] == [2.0]

    table = cli("compare", "alpha", "beta", check=True).stdout
    assert "alpha" in table and "beta" in table and "lora.r" in table and "rougeL" in table and "1.2000" in table


@pytest.mark.integration
def test_compare_needs_two_different_existing_runs() -> None:
    store = open_store()
    _record_run(store, "only", lr=1e-3, r=8, train_loss=1.0, eval_losses=[1.0], rouge=None)
    result = cli("compare", "only")
    assert result.returncode == 2 and "at least two runs" in result.stderr
    assert_one_line_error(cli("compare", "only", "nope"), "No run named 'nope'")


@pytest.mark.integration
def test_compare_stays_light_and_never_imports_torch() -> None:
    store = open_store()
    _record_run(store, "one", lr=1e-3, r=8, train_loss=1.0, eval_losses=[1.0], rouge=None)
    _record_run(store, "two", lr=2e-3, r=8, train_loss=1.0, eval_losses=[1.0], rouge=None)
    code = (
        "import sys\n"
        "from tuitune.cli import main\n"
        "try:\n    main(['compare', 'one', 'two', '--json'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout)["differences"] == {"training.learning_rate": [1e-3, 2e-3]}
    assert result.stderr.strip().endswith("HEAVY="), result.stderr


def test_runs_of_different_objectives_share_every_key_curve_and_say_whose_each_is() -> None:
    """A DPO, a KTO and a GRPO run as the store keeps them (their trainers' own metric names)."""
    store = open_store()
    logged = {
        "dpo": {"rewards/margins": 0.4, "rewards/accuracies": 0.75},
        "kto": {"rewards/margins": 0.2, "kl": 0.01},
        "grpo": {"reward": 0.5, "reward_std": 0.1, "frac_reward_zero_std": 0.0},
    }
    runs = []
    for objective, extra in logged.items():
        run = store.create_run(
            name=f"{objective}-run", config={"objective": objective}, model="m", method="lora", dataset="d"
        )
        store.add_metric_points(run.id, [{"step": 1, "loss": 1.0, "extra": extra}])
        store.set_status(run.id, COMPLETED)
        runs.append(store.get_run(run.id))
    dpo, kto, grpo = (run.id for run in runs)

    comparison = compare_runs(runs, store)

    assert [(curve.label, curve.run_ids) for curve in comparison.key_curves] == [
        ("reward margin", [dpo, kto]),
        ("reward accuracy", [dpo]),
        ("KL to the reference", [kto]),
        ("mean reward", [grpo]),
        ("reward std", [grpo]),
    ]
    assert comparison.only_some() == comparison.key_curves  # no curve is every run's
    assert only_in(comparison.key_curves[0], comparison) == f"only #{dpo}, #{kto} (dpo, kto)"
    # Each run's points carry its own key curves only; its summary their last values.
    assert [point.extra for point in comparison.curves[kto]] == [{"rewards/margins": 0.2, "kl": 0.01}]
    assert [summary.key_values for summary in comparison.runs] == [
        {"rewards/margins": 0.4, "rewards/accuracies": 0.75},
        {"rewards/margins": 0.2, "kl": 0.01},
        {"reward": 0.5, "reward_std": 0.1},
    ]
    assert comparison.differences == {"objective": ["dpo", "kto", "grpo"]}


def test_the_objective_is_read_from_the_configs_text_as_the_config_says_it() -> None:
    store = open_store()
    old = store.create_run(name="before-objectives", config={"method": "lora"}, model="m", method="lora", dataset="d")
    dpo = store.create_run(
        name="dpo",
        # A user's text that spells the key, before it: escaped in the stored text, never read as it.
        config={"data": {"source": 'pairs "objective": "grpo".jsonl'}, "objective": "dpo"},
        model="m",
        method="qlora",
        dataset="d",
    )
    for run, objective, label in ((old, "sft", "lora"), (dpo, "dpo", "qlora · dpo")):
        assert present.objective(run) == objective == metrics.objective_of(run.config) == run_document(run).objective
        assert present.method_label(run) == label
