"""The built-in demo model and the bundled sample dataset: built locally, deterministic, loadable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuitune.models.demo import DEMO_NAME, ensure_demo_model, sample_dataset_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_the_sample_dataset_is_a_few_hundred_alpaca_examples_and_its_script_reproduces_it() -> None:
    path = sample_dataset_path()
    assert path.stat().st_size < 1024 * 1024
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert 300 <= len(rows) <= 500
    for row in rows:
        assert set(row) == {"instruction", "input", "output"}
        assert row["instruction"].strip() and row["output"].strip()
        assert isinstance(row["input"], str)
    assert any(row["input"] for row in rows) and any(not row["input"] for row in rows)
    # One answer per prompt, and both one-word and several-sentence answers.
    assert len({(r["instruction"], r["input"]) for r in rows}) == len(rows)
    lengths = sorted(len(r["output"]) for r in rows)
    assert lengths[0] < 20 and lengths[-1] > 150
    # The committed file is exactly what the script writes.
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_dataset.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_the_demo_model_loads_with_plain_transformers(demo_model_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert demo_model_path.name == DEMO_NAME
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in demo_model_path.iterdir()}
    tokenizer = AutoTokenizer.from_pretrained(demo_model_path)
    model = AutoModelForCausalLM.from_pretrained(demo_model_path)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.bos_token
    assert len({tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id}) == 3
    assert model.config.vocab_size == len(tokenizer)
    # No chat template of its own: tuitune falls back to chatml, whose markers are single tokens.
    assert not tokenizer.chat_template
    for marker in ("<|im_start|>", "<|im_end|>"):
        assert tokenizer.convert_ids_to_tokens(tokenizer.encode(marker, add_special_tokens=False)) == [marker]
    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    # Trained on the sample data: an English sentence is a handful of tokens, not bytes.
    assert len(tokenizer.encode("The capital of France is Paris.", add_special_tokens=False)) <= 10


def test_a_second_call_reuses_the_built_model(demo_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(demo_model_path.parent.parent))
    before = (demo_model_path / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_model() == demo_model_path
    assert (demo_model_path / "model.safetensors").stat().st_mtime_ns == before


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.integration
def test_two_processes_building_at_once_get_one_whole_model_identical_to_another_homes(
    tmp_path: Path, demo_model_path: Path
) -> None:
    """Two processes race to build in a fresh home: one wins, nothing half-built is left, and the
    result is the very same tokenizer and weights as the session's demo model built elsewhere."""
    import os

    import torch

    script = "from tuitune.models.demo import ensure_demo_model; print(ensure_demo_model())"
    home = tmp_path / "racing"
    env = {**os.environ, "TUITUNE_HOME": str(home)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=180) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    built = home / "models" / DEMO_NAME
    assert [Path(out.strip()) for out, _ in outputs] == [built, built]
    assert [p.name for p in (home / "models").iterdir()] == [DEMO_NAME]  # no staging leftovers

    assert (built / "tokenizer.json").read_bytes() == (demo_model_path / "tokenizer.json").read_bytes()
    ours, theirs = _tensors(built), _tensors(demo_model_path)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
