"""After training, a user talks to the model: the chat child answers exactly as the model would
in-process, the base pane really runs without the adapter, answers stream, stop strings and
token limits hold, chats are kept with the run, and a model too big for the free memory is
refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tuitune
from tests.helpers import assert_one_line_error, cli, cli_json, completed_run_of_a_huge_model
from tests.trained_runs import train_greeter
from tuitune.chats import ChatChild, Sampling
from tuitune.store import Run, open_store

pytestmark = pytest.mark.slow

PROMPT = "Greet Ada and mention music."
GREEDY = Sampling(temperature=0, max_new_tokens=24)


@pytest.fixture(scope="module")
def trained_home(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> tuple[Path, int]:
    return train_greeter(tmp_path_factory, shared_models_dir, "chat-home")


@pytest.fixture
def run(trained_home: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> Run:
    home, run_id = trained_home
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    return open_store().get_run(run_id)


def in_process(run: Run, which: str) -> str:
    """The same prompt, template and greedy settings, with model.generate in this process."""
    import torch

    from tuitune.chats.models import generation_config, open_pane

    pane = open_pane(run, open_store(), which, device="cpu")
    prompt = pane.template.prompt([__import__("tuitune.data.examples", fromlist=["Message"]).Message("user", PROMPT)])
    encoded = pane.tokenizer(prompt, return_tensors="pt", add_special_tokens=pane.template.add_special_tokens)
    with torch.inference_mode():
        ids = pane.model.generate(**encoded, generation_config=generation_config(pane, GREEDY))
    return pane.tokenizer.decode(ids[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def test_greedy_answers_equal_generate_in_process_and_the_base_pane_has_no_adapter(run: Run) -> None:
    with ChatChild() as chat:
        finetuned = chat.load("a", run_id=run.id, which="finetuned", device="cpu")
        base = chat.load("b", run_id=run.id, which="base", device="cpu")
        assert "+ adapter" in finetuned["description"] and str(run.output_dir) in finetuned["description"]
        assert base["description"] == "base tuitune/demo, no adapter"
        answers = {}
        for pane in ("a", "b"):
            events = list(chat.ask(pane, [{"role": "user", "content": PROMPT}], GREEDY))
            answers[pane] = events[-1]["answer"]
            chunks = [event for event in events if event["event"] == "chunk"]
            if pane == "a":
                assert len(chunks) > 1  # it streams, word by word
                assert "".join(chunk["text"] for chunk in chunks).strip().startswith(answers[pane]["text"][:10])
    assert answers["a"]["text"] == in_process(run, "finetuned")
    assert answers["b"]["text"] == in_process(run, "base")
    assert answers["a"]["text"] != answers["b"]["text"]
    assert (
        answers["a"]["text"].startswith("Hello ") and "good to see you" in answers["a"]["text"]
    )  # what the adapter learned


def test_stop_strings_token_limits_and_an_interrupt_end_the_answer(run: Run) -> None:
    with ChatChild() as chat:
        chat.load("a", run_id=run.id, device="cpu")
        message = [{"role": "user", "content": PROMPT}]
        cut = list(chat.ask("a", message, Sampling(temperature=0, max_new_tokens=24, stop=[","])))[-1]["answer"]
        assert cut["stopped"] == "stop_string" and "," not in cut["text"] and cut["text"].startswith("Hello")
        short = list(chat.ask("a", message, Sampling(temperature=0, max_new_tokens=3)))[-1]["answer"]
        assert short["tokens"] == 3 and short["stopped"] == "max_tokens"
        chat.load("b", run_id=run.id, which="base", device="cpu")
        stream = chat.ask("b", message, Sampling(temperature=0, max_new_tokens=2000))
        next(event for event in stream if event["event"] == "chunk")
        chat.stop()
        stopped = next(event for event in stream if event["event"] == "done")["answer"]
        assert stopped["stopped"] == "interrupted" and stopped["tokens"] < 2000
        # The child serves on after an interrupt.
        again = list(chat.ask("a", message, Sampling(temperature=0, max_new_tokens=3)))[-1]["answer"]
        assert again["tokens"] == 3


def test_sampling_with_a_seed_is_repeatable(run: Run) -> None:
    settings = {"temperature": 1.0, "top_k": 0, "max_new_tokens": 12, "which": "base"}
    first = tuitune.chat(run, PROMPT, seed=7, **settings)
    assert tuitune.chat(run, PROMPT, seed=7, **settings) == first
    assert isinstance(first, str) and first


def test_a_chat_is_kept_with_the_run_and_exports_as_training_data(run: Run, tmp_path: Path) -> None:
    document = cli_json(
        "chat", str(run.id), "--compare", "--prompt", PROMPT, "-t", "0", "-n", "16", "--system", "Be kind."
    )
    assert set(document["answers"]) == {"finetuned", "base"}
    assert document["answers"]["finetuned"]["tokens_per_second"] > 0
    saved = open_store().conversations(run.id)[0]
    assert saved.id == document["conversation_id"] and saved.settings["system_prompt"] == "Be kind."
    assert saved.turns[0]["prompt"] == PROMPT
    assert saved.turns[0]["answers"]["finetuned"]["text"] == document["answers"]["finetuned"]["text"]
    exported = tmp_path / "chats.jsonl"
    assert cli("chat", str(run.id), "--export", str(exported)).returncode == 0
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert rows[-1]["messages"][:2] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": PROMPT}]
    assert rows[-1]["messages"][2]["role"] == "assistant"


def test_a_model_bigger_than_the_free_memory_is_refused_in_one_line(tmp_path: Path, tuitune_home: Path) -> None:
    run = completed_run_of_a_huge_model(tmp_path)
    result = cli("chat", str(run.id), "--base", "--prompt", "hi", "--device", "cpu")
    assert_one_line_error(result, "needs about", "of RAM free")
