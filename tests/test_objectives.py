"""Every preference objective end to end, as a user runs it: `tuitune train --demo --objective X`
through the real worker, stored (completed, its metrics, its weights), shown (`tuitune show --json`),
resumed after a SIGKILL to the loss the uninterrupted run ends at, swept over beta, and trained
by two processes.

The runs train on the demo model with the bundled `tuitune/sample-preference`, which `--demo`
picks for a preference objective (and `tuitune/sample-prompts`, with the settings that learn,
for grpo). The runs every objective's checks read are trained once for the module (`trained`),
eight steps each at a constant learning rate: they are also the uninterrupted runs their
killed and resumed twins are held to (each objective on LoRA, and dpo's full fine-tuning, whose
reference is computed in one pass before training, again on resume). A grpo run, killed and
resumed, samples the same completions after its checkpoint as its uninterrupted twin: the same
reward at every step.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_inprocess import assert_clean_error, run_inprocess
from tests.helpers import cli_json, wait_for, wait_for_status
from tests.trained_runs import home_env, new_home
from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASET, SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.config import ConfigBuilder, RunConfig, load_config
from tuitune.runs.files import checkpoint_step, folder_of, last_checkpoint
from tuitune.runs.metrics import KEY_CURVES
from tuitune.store import COMPLETED, CRASHED, open_store

STEPS = 8  # the module's runs: checkpoints at 3 and 6, evaluations at 4 and 8


def write_base(folder: Path) -> Path:
    """What the module's runs share beyond `--demo`: a constant learning rate (so a run's path does
    not depend on its step budget, and an interrupted run can be given one it never reaches), a
    loss at every step, checkpoints every 3 steps, 40 pairs to train on and 8 held out. No objective
    and no data: the flags and `--demo` give them."""
    path = folder / "base.yaml"
    ConfigBuilder().demo().data(max_length=128, max_samples=48, validation_split=8).lora(r=16, alpha=32).training(
        learning_rate=1e-3,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        batch_size=4,
        logging_steps=1,
        eval_steps=4,
        save_steps=3,
    ).build().save(path)
    return path


def with_preference(base: Path, **preference: Any) -> Path:
    """`base` with preference settings (the train command has no flag for the loss type)."""
    data = yaml.safe_load(base.read_text())
    data["preference"].update(preference)
    path = base.with_name("-".join(f"{key}-{value}" for key, value in preference.items()) + ".yaml")
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass(frozen=True)
class Case:
    """One objective on one method, as `tuitune train` is told it."""

    objective: str
    method: str
    preference: dict[str, Any]

    @property
    def id(self) -> str:
        extra = "-".join(str(value) for value in self.preference.values())
        return "-".join(part for part in (self.objective, extra, self.method) if part)


CASES = [
    Case("dpo", "lora", {}),
    Case("dpo", "lora", {"loss_type": "ipo"}),
    Case("kto", "lora", {}),
    Case("orpo", "lora", {}),
    Case("simpo", "lora", {}),
    Case("dpo", "qlora", {}),
    Case("dpo", "full_finetuning", {}),
]
BY_ID = {case.id: case for case in CASES}


@dataclass(frozen=True)
class Trained:
    """The module's TUITUNE_HOME, its shared settings, and the run of each case."""

    home: Path
    base: Path
    runs: dict[str, int]


def train_command(base: Path, case: Case, *more: str) -> list[str]:
    config = with_preference(base, **case.preference) if case.preference else base
    return ["train", "-c", str(config), "--demo", "--objective", case.objective, "--method", case.method, *more]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    home = new_home(tmp_path_factory, shared_models_dir, "objectives")
    runs = {}
    with home_env(home):
        base = write_base(home)
        for case in CASES:
            document = cli_json(*train_command(base, case, "--max-steps", str(STEPS), "--name", case.id))
            assert document["status"] == COMPLETED, document
            runs[case.id] = document["run_id"]
    return Trained(home, base, runs)


def loss_at(run_id: int, step: int) -> float:
    losses = [p.loss for p in open_store().metric_points(run_id) if p.step == step]
    loss = next((loss for loss in reversed(losses) if loss is not None), None)
    assert loss is not None, f"run {run_id} logged no loss at step {step}"
    return loss


# --- each objective trains through the worker, is stored and shown ---------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_objective_trains_through_the_worker_and_is_stored_and_shown(
    case: Case, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(trained.home))
    store = open_store()
    run_id = trained.runs[case.id]
    run = store.get_run(run_id)
    assert (run.status, run.steps_done, run.method) == (COMPLETED, STEPS, case.method)
    config = RunConfig.from_dict(run.config)
    # `--demo` took the objective's own bundled set, though the file named the sft sample.
    assert (config.objective, config.data.source, config.model.name_or_path) == (
        case.objective,
        SAMPLE_PREFERENCE,
        DEMO_MODEL,
    )
    assert config.preference.loss_type == case.preference.get("loss_type", "sigmoid")

    # Every step's point carries the objective's key curves; each evaluation their eval_ twins.
    keys = [curve.key for curve in KEY_CURVES[case.objective]]
    points = store.metric_points(run_id)
    steps = [p for p in points if p.loss is not None]
    evaluations = [p for p in points if p.eval_loss is not None]
    assert [p.step for p in steps] == list(range(1, STEPS + 1))
    assert [p.step for p in evaluations] == [4, 8]
    for point in steps:
        assert all(isinstance(point.extra.get(key), float) for key in keys), (point.step, point.extra)
    for point in evaluations:
        assert all(isinstance(point.extra.get(f"eval_{key}"), float) for key in keys), (point.step, point.extra)
    # The speed counts both answers of each pair (the trainer's own collator is counted).
    assert all(p.tokens_per_second and p.tokens_per_second > 0 for p in steps), [p.tokens_per_second for p in steps]
    assert run.tokens_per_second and run.tokens_per_second > 0

    # The weights, in the layout the rest of tuitune loads.
    kind = "model" if case.method == "full_finetuning" else "adapter"
    weights = folder_of(run) / kind
    assert (weights / ("model.safetensors" if kind == "model" else "adapter_model.safetensors")).exists()

    shown = run_inprocess("show", str(run_id), "--json")
    assert shown.returncode == 0, shown.stderr
    document = yaml.safe_load(shown.stdout)  # JSON is YAML
    assert document["objective"] == case.objective
    assert [curve["key"] for curve in document["key_curves"]] == keys
    assert all(isinstance(document["metrics"]["latest"][key], float) for key in keys)
    assert document["metrics"]["last_loss"] == pytest.approx(steps[-1].loss)
    assert any(artifact["kind"] == kind and artifact["path"] == str(weights) for artifact in document["artifacts"])

    # worker.log reads as lines: TRL's progress bars ("Tokenizing train dataset", "Computing
    # reference log probs") are off; the events say which reference was used.
    log = (folder_of(run) / "worker.log").read_text(encoding="utf-8")
    assert "\r" not in log and "Tokenizing" not in log and "it/s" not in log, log[-2000:]
    references = [e.message for e in store.events(run_id) if e.message.startswith("reference:")]
    assert references == expected_references(case)


def expected_references(case: Case) -> list[str]:
    """What a run's events say of its reference (orpo and simpo need none)."""
    if case.objective in ("orpo", "simpo"):
        return []
    if case.method == "full_finetuning":
        return ["reference: log-probabilities computed in one pass before training (no copy kept)"]
    return ["reference: the base model with the adapter switched off (no second copy)"]


# --- killed mid-run, resumed: the uninterrupted run's end -----------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["dpo-lora", "kto-lora", "orpo-lora", "simpo-lora", "dpo-full_finetuning"])
def test_a_killed_preference_run_resumes_to_the_loss_of_the_uninterrupted_run(
    case_id: str, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = BY_ID[case_id]
    with home_env(trained.home):
        reference = loss_at(trained.runs[case_id], STEPS)
    # The same run with a budget it never reaches, so the kill surely lands mid-run.
    started = cli_json(*train_command(trained.base, case, "--max-steps", "100000", "--name", "killed", "--detach"))
    run_id = started["run_id"]
    output = Path(started["output_dir"])
    # A whole checkpoint (one being written may be cut short by the kill: it is not resumed from).
    wait_for(lambda: last_checkpoint(output), timeout=300, interval=0.02, what="a checkpoint")
    os.kill(started["pid"], signal.SIGKILL)
    wait_for_status(run_id, {CRASHED})
    saved = last_checkpoint(output)
    assert saved is not None and checkpoint_step(saved) < STEPS, f"the run reached {saved} before it was killed"

    resumed = cli_json("resume", str(run_id), "--max-steps", str(STEPS))
    assert (resumed["status"], resumed["steps_completed"]) == (COMPLETED, STEPS)
    # Same seed, the same batches in the same order (kto's sequential one too), the optimizer
    # and RNG restored: the same end point.
    assert loss_at(run_id, STEPS) == pytest.approx(reference, abs=1e-3)
    assert f"resuming from {saved.name}" in (output / "worker.log").read_text(encoding="utf-8")
    trained_steps = [p.step for p in open_store().metric_points(run_id) if p.loss is not None]
    assert trained_steps == list(range(1, STEPS + 1)), trained_steps


@pytest.mark.slow
def test_a_killed_grpo_run_resumes_to_the_loss_and_reward_of_the_uninterrupted_run(
    tmp_path: Path, demo_model_path: Path
) -> None:
    # The grpo demo's settings at a constant rate, a point per step, checkpoints every 3 steps.
    config = tmp_path / "grpo.yaml"
    ConfigBuilder().demo("grpo").training(
        lr_scheduler="constant", logging_steps=1, save_steps=3, eval_steps=1000
    ).build().save(config)
    train = ["train", "-c", str(config)]
    uninterrupted = cli_json(*train, "--max-steps", str(STEPS), "--name", "uninterrupted")
    assert uninterrupted["status"] == COMPLETED, uninterrupted
    started = cli_json(*train, "--max-steps", "100000", "--name", "killed", "--detach")
    run_id, output = started["run_id"], Path(started["output_dir"])
    wait_for(lambda: last_checkpoint(output), timeout=300, interval=0.02, what="a checkpoint")
    os.kill(started["pid"], signal.SIGKILL)
    wait_for_status(run_id, {CRASHED})
    saved = last_checkpoint(output)
    assert saved is not None and checkpoint_step(saved) < STEPS, f"the run reached {saved} before it was killed"

    resumed = cli_json("resume", str(run_id), "--max-steps", str(STEPS))
    assert (resumed["status"], resumed["steps_completed"]) == (COMPLETED, STEPS)
    assert f"resuming from {saved.name}" in (output / "worker.log").read_text(encoding="utf-8")
    # The completions after the checkpoint were sampled again from the restored generator: the
    # same completions at every step, so the same rewards and the same end loss.
    store = open_store()

    def logged(run: int) -> list[Any]:
        return [p for p in store.metric_points(run) if p.loss is not None]

    twins = logged(uninterrupted["run_id"]), logged(run_id)
    assert [p.extra["reward"] for p in twins[1]] == pytest.approx([p.extra["reward"] for p in twins[0]], abs=1e-6)
    assert any(p.extra["reward"] > 0 for p in twins[0])  # some completions earned it: a real check
    assert twins[1][-1].loss == pytest.approx(twins[0][-1].loss, abs=1e-3)
    trained_steps = [p.step for p in store.metric_points(run_id) if p.loss is not None]
    assert trained_steps == list(range(1, STEPS + 1)), trained_steps


def test_a_checkpoint_cut_short_by_a_kill_is_not_resumed_from(tmp_path: Path) -> None:
    # What a worker SIGKILLed while saving leaves (seen in the test above): the Trainer writes
    # trainer_state.json last, and the kill came as it had created the file.
    checkpoints = tmp_path / "checkpoints"
    for step, state in ((3, '{"global_step": 3}'), (6, ""), (9, '{"global_st')):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(state, encoding="utf-8")
    assert last_checkpoint(tmp_path) == checkpoints / "checkpoint-3"
    (checkpoints / "checkpoint-3" / "trainer_state.json").write_bytes(b'{"note": "\xc3')  # cut in a character
    assert last_checkpoint(tmp_path) is None


# --- --demo --objective: the objective's bundled set, and for grpo the settings that learn ----------
def saved_config(tmp_path: Path, *flags: str) -> RunConfig:
    path = tmp_path / "saved.yaml"
    result = run_inprocess("train", *flags, "--save-config", str(path))
    assert result.returncode == 0, result.stderr
    return load_config(path)


@pytest.mark.parametrize(
    ("objective", "source"),
    [
        ("sft", SAMPLE_DATASET),
        ("dpo", SAMPLE_PREFERENCE),
        ("kto", SAMPLE_PREFERENCE),
        ("orpo", SAMPLE_PREFERENCE),
        ("simpo", SAMPLE_PREFERENCE),
        ("grpo", SAMPLE_PROMPTS),
    ],
)
def test_demo_trains_each_objective_on_its_bundled_set(objective: str, source: str, tmp_path: Path) -> None:
    config = saved_config(tmp_path, "--demo", "--objective", objective)
    assert (config.objective, config.data.source, config.model.name_or_path) == (objective, source, DEMO_MODEL)
    assert config.method == "full_finetuning"  # the demo's method, whatever the objective
    assert ConfigBuilder().demo(objective).build().data.source == source
    assert ConfigBuilder().objective(objective).demo().build().data.source == source


def test_the_grpo_demo_rewards_a_format_the_demo_model_can_learn(tmp_path: Path) -> None:
    config = saved_config(tmp_path, "--demo", "--objective", "grpo")
    assert (config.grpo.rewards, config.grpo.format_pattern) == (["format"], r"^\d")
    assert (config.grpo.num_generations, config.grpo.max_completion_length) == (8, 4)
    training = config.training
    assert (training.max_steps, training.batch_size, training.learning_rate) == (40, 16, 3e-2)
    assert (training.lr_scheduler, training.warmup_ratio) == ("linear", 0.0)

    # What the user gives wins, and an epoch budget is not overridden by the demo's steps.
    given = saved_config(
        tmp_path, "--demo", "--objective", "grpo", "--reward", "exact_match", "--lr", "0.01", "--epochs", "1"
    )
    assert (given.grpo.rewards, given.training.learning_rate) == (["exact_match"], 0.01)
    assert (given.training.max_steps, given.training.epochs) == (None, 1.0)
    assert given.grpo.num_generations == 8  # the rest of the demo's settings stay
    # A data set given replaces the bundled one.
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Say 1", "answer": "1"}\n' * 4)
    assert saved_config(tmp_path, "--demo", "--objective", "grpo", "-d", str(prompts)).data.source == str(prompts)

    # With a config file, the file's settings are the user's: --demo gives the model and the data.
    file = tmp_path / "grpo.yaml"
    ConfigBuilder().demo("grpo").build().save(file)
    plain = tmp_path / "plain.yaml"
    ConfigBuilder().demo().objective("grpo").build().save(plain)
    from_file = saved_config(tmp_path, "--demo", "-c", str(plain))
    assert (from_file.data.source, from_file.grpo.rewards) == (SAMPLE_PROMPTS, ["exact_match"])
    assert saved_config(tmp_path, "--demo", "-c", str(file)).grpo.rewards == ["format"]


def test_the_builders_demo_keeps_what_its_callers_gave() -> None:
    plain = ConfigBuilder().demo().build()
    assert (plain.objective, plain.data.source, plain.method) == ("sft", SAMPLE_DATASET, "lora")
    # Given before or after, the caller's settings win over the demo's.
    before = ConfigBuilder().method("lora").training(max_steps=5).demo("grpo").build()
    after = ConfigBuilder().demo("grpo").method("lora").training(max_steps=5).build()
    for config in (before, after):
        assert (config.method, config.training.max_steps, config.grpo.rewards) == ("lora", 5, ["format"])
    assert ConfigBuilder().training(epochs=1).demo("grpo").build().training.max_steps is None
    # The preference objectives need nothing beyond their data.
    dpo = ConfigBuilder().demo("dpo").build()
    assert (dpo.objective, dpo.method, dpo.training) == ("dpo", "lora", ConfigBuilder().demo().build().training)


@pytest.mark.slow
def test_the_grpo_demo_learns_out_of_the_box(demo_model_path: Path) -> None:
    document = cli_json("train", "--demo", "--objective", "grpo", timeout=600)
    assert (document["status"], document["steps_completed"]) == (COMPLETED, 40)
    rewards = [p.extra.get("reward") for p in open_store().metric_points(document["run_id"]) if p.loss is not None]
    first, last = rewards[0], rewards[-1]
    assert first is not None and last is not None and first < 0.2 and last > 0.5, rewards
    # Named for its objective, and the outcome says the reward its loss does not.
    assert document["name"] == "demo-full-grpo" and document["key_values"]["reward"] == pytest.approx(last)


# --- sweeps and the queue ---------------------------------------------------------------------------
@pytest.mark.slow
def test_a_beta_sweep_queues_two_dpo_runs_and_the_queue_trains_them(tmp_path: Path, demo_model_path: Path) -> None:
    base = write_base(tmp_path)  # the module's small settings: a loss at every step
    queued = cli_json(
        "sweep", "-c", str(base), "--demo", "--objective", "dpo", "--set", "preference.beta=0.1,0.5", "--max-steps", "4"
    )
    assert [run["name"] for run in queued["runs"]] == ["beta=0.1", "beta=0.5"]
    store = open_store()
    # The queue trains them in turn, as it does any run.
    finished = [wait_for_status(run["id"], {COMPLETED}, timeout=600) for run in queued["runs"]]
    for run, beta in zip(finished, (0.1, 0.5)):
        config = RunConfig.from_dict(run.config)
        assert (config.objective, config.data.source, config.preference.beta) == ("dpo", SAMPLE_PREFERENCE, beta)
        assert run.steps_done == 4 and run.sweep_id == queued["sweep_id"]
        point = next(p for p in store.metric_points(run.id) if p.step == 4 and p.loss is not None)
        assert isinstance(point.extra.get("rewards/margins"), float), point.extra
    # Both start as ties (the policy is its own reference: log 2), then beta changes what they learn.
    first = [loss_at(run.id, 1) for run in finished]
    last = [loss_at(run.id, 4) for run in finished]
    assert first[0] == pytest.approx(first[1], abs=1e-6) and last[0] != pytest.approx(last[1], abs=1e-6)


def test_a_sweep_over_a_setting_dpo_ignores_is_refused(tuitune_home: Path) -> None:
    result = run_inprocess(
        "sweep", "--demo", "--objective", "dpo", "--set", "preference.simpo_gamma=0.1,0.5", "--max-steps", "3"
    )
    assert_clean_error(result, "preference.simpo_gamma changes nothing for objective dpo", "--drop-unused", code=2)
    assert open_store().count_runs() == 0
    # The same grid is a real one for simpo.
    planned = run_inprocess(
        "sweep", "--demo", "--objective", "simpo", "--set", "preference.simpo_gamma=0.1,0.5", "--dry-run", "--json"
    )
    assert planned.returncode == 0, planned.stderr
    assert [run["name"] for run in yaml.safe_load(planned.stdout)["runs"]] == ["simpo_gamma=0.1", "simpo_gamma=0.5"]


# --- two processes ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_dpo_lora_run_trains_with_two_processes(tmp_path: Path, demo_model_path: Path) -> None:
    base = write_base(tmp_path)
    command = train_command(base, BY_ID["dpo-lora"], "--nproc", "2", "--batch-size", "2", "--max-steps", "4")
    document = cli_json(*command, timeout=600)
    assert (document["status"], document["steps_completed"]) == (COMPLETED, 4)
    store = open_store()
    assert [process.rank for process in store.processes(document["run_id"])] == [0, 1]
    # Rank 0 alone writes: one point per step, with DPO's rewards.
    steps = [p for p in store.metric_points(document["run_id"]) if p.loss is not None]
    assert [p.step for p in steps] == [1, 2, 3, 4]
    assert all(isinstance(p.extra.get("rewards/margins"), float) for p in steps)
    assert (Path(document["output_dir"]) / "adapter" / "adapter_model.safetensors").exists()
