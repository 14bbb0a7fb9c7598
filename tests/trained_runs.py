"""Real runs on the demo model shared by the after-training tests (eval, merge, chat).

Training once keeps those tests fast: the greeter is trained once for the whole run of the suite
(the `greeter` fixture in tests/conftest.py) and each module gets a store of its own holding it
(`greeter_home`); other runs are trained once per module by a module-scoped fixture into its own
TUITUNE_HOME (whose models/ is the session's shared demo model). Each test that uses a run points
TUITUNE_HOME there with monkeypatch.

The greeting dataset has one clear pattern ("Hello NAME, it is good to see you. Let us talk about
TOPIC."), so a LoRA adapter learns it in a few dozen steps even on the tiny random demo model, and
its held-out prompts are exactly "training-like": the fine-tuned model's answers then beat the
base model's by a wide margin, which makes the before/after comparison robust.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tuitune.config import ConfigBuilder

NAMES = ["Ada", "Linus", "Grace", "Ken", "Dennis", "Barbara", "Alan", "Edsger", "Donald", "Margaret", "Guido", "Bjarne"]
TOPICS = ["the weather", "music", "books", "the sea", "coffee"]

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Trained:
    """A TUITUNE_HOME holding a completed run, and that run's id."""

    home: Path
    run_id: int


def write_greetings(path: Path) -> Path:
    """60 alpaca rows that all answer the same way."""
    with path.open("w", encoding="utf-8") as handle:
        for name in NAMES:
            for topic in TOPICS:
                row = {
                    "instruction": f"Greet {name} and mention {topic}.",
                    "output": f"Hello {name}, it is good to see you. Let us talk about {topic}.",
                }
                handle.write(json.dumps(row) + "\n")
    return path


def greeting_config(data: Path, *, method: str = "lora", max_steps: int = 30, **options: Any) -> ConfigBuilder:
    builder = (
        ConfigBuilder()
        .demo()
        .method(method)
        .data(str(data), max_length=64, validation_split=0.2)
        .training(
            max_steps=max_steps,
            batch_size=8,
            logging_steps=5,
            learning_rate=5e-3,
            lr_scheduler="constant",
            warmup_ratio=0.0,
            save_steps=1000,
        )
        .evaluation(samples=8, max_new_tokens=24)
    )
    if method != "full_finetuning":
        builder = builder.lora(r=16, alpha=32)
    for key, value in options.items():
        getattr(builder, key)(value)
    return builder


def new_home(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, name: str) -> Path:
    """A TUITUNE_HOME for a whole test module, sharing the session's demo model."""
    home = tmp_path_factory.mktemp(name)
    (home / "models").symlink_to(shared_models_dir, target_is_directory=True)
    return home


@contextmanager
def home_env(home: Path) -> Iterator[None]:
    """Point tuitune (and the Hub client) at `home`, offline, for the duration."""
    saved = {key: os.environ.get(key) for key in ("TUITUNE_HOME", "HF_HOME", *OFFLINE)}
    os.environ.update({"TUITUNE_HOME": str(home), "HF_HOME": str(home / "hf-home"), **OFFLINE})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_greeter(home: Path, shared_models_dir: Path) -> int:
    """A new home at `home` with one completed LoRA run on the greetings ("greeter"); its run id."""
    import tuitune
    from tuitune.store import COMPLETED

    home.mkdir()
    (home / "models").symlink_to(shared_models_dir, target_is_directory=True)
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        result = tuitune.train(greeting_config(data).name("greeter").build())
    assert result.status == COMPLETED
    return result.run_id


def copy_store(source: Path, target: Path) -> None:
    """A copy of the store at `source` (SQLite's online backup: whole, whatever its WAL holds)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(source)) as reading, contextlib.closing(sqlite3.connect(target)) as copy:
        reading.backup(copy)
