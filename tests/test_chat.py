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
from tests.trained_runs import Trained
from tuitune.chats import ChatChild, Sampling
from tuitune.chats.documents import ChatReply, ChatsExported
from tuitune.store import Run, open_store

pytestmark = pytest.mark.slow

PROMPT = "Greet Ada and mention music."
GREEDY = Sampling(temperature=0, max_new_tokens=24)


@pytest.fixture
def run(greeter_home: Trained, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The greeter (trained once for the suite), in this module's own store."""
    monkeypatch.setenv("TUITUNE_HOME", str(greeter_home.home))
    return open_store().get_run(greeter_home.run_id)


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
        stream = chat.ask("b", message, Sampling(temperature=0, max_new_tokens=1000))
        next(event for event in stream if event["event"] == "chunk")
        chat.stop()
        stopped = next(event for event in stream if event["event"] == "done")["answer"]
        assert stopped["stopped"] == "interrupted" and stopped["tokens"] < 1000
        # The child serves on after an interrupt.
        again = list(chat.ask("a", message, Sampling(temperature=0, max_new_tokens=3)))[-1]["answer"]
        assert again["tokens"] == 3


def test_a_stop_sent_right_after_its_question_stops_it_even_while_the_child_is_busy(run: Run) -> None:
    # The question and its stop both arrive while the child still loads a model (what a user who
    # presses ctrl+c at once, on a loaded machine, sends): the stop must not be forgotten when the
    # question's turn comes, and a question asked after the stop is answered in full.
    import subprocess
    import sys

    from tuitune.system import child

    message = [{"role": "user", "content": PROMPT}]
    lines = [
        {"op": "load", "pane": "b", "run_id": run.id, "which": "base", "device": "cpu"},
        {"op": "generate", "id": 1, "pane": "b", "messages": message, "sampling": {"max_new_tokens": 1000}},
        {"op": "stop"},
        {
            "op": "generate",
            "id": 2,
            "pane": "b",
            "messages": message,
            "sampling": {"temperature": 0, "max_new_tokens": 3},
        },
        {"op": "quit"},
    ]
    served = subprocess.run(
        [sys.executable, "-m", "tuitune.chats.server"],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=300,
        env=child.child_environment(),
    )
    events = [json.loads(line) for line in served.stdout.splitlines()]
    done = {event["id"]: event["answer"] for event in events if event.get("event") == "done"}
    assert done[1]["stopped"] == "interrupted" and done[1]["tokens"] <= 1, done[1]
    assert done[2]["stopped"] == "max_tokens" and done[2]["tokens"] == 3


def test_sampling_with_a_seed_is_repeatable(run: Run) -> None:
    first = tuitune.chat(run, PROMPT, seed=7, temperature=1.0, top_k=0, max_new_tokens=12, which="base")
    assert tuitune.chat(run, PROMPT, seed=7, temperature=1.0, top_k=0, max_new_tokens=12, which="base") == first
    assert isinstance(first, str) and first


def test_a_chat_is_kept_with_the_run_and_exports_as_training_data(run: Run, tmp_path: Path) -> None:
    document = cli_json(
        "chat", str(run.id), "--compare", "--prompt", PROMPT, "-t", "0", "-n", "16", "--system", "Be kind."
    )
    assert ChatReply.model_validate(document).model_dump(mode="json") == document  # the declared document
    assert set(document["answers"]) == set(document["loaded"]) == {"finetuned", "base"}
    assert document["answers"]["finetuned"]["tokens_per_second"] > 0
    assert document["loaded"]["base"]["template"] and document["loaded"]["finetuned"]["context"] == 1024
    saved = open_store().conversations(run.id)[0]
    assert saved.id == document["conversation_id"] and saved.settings["system_prompt"] == "Be kind."
    assert saved.turns[0]["prompt"] == PROMPT
    assert saved.turns[0]["answers"]["finetuned"]["text"] == document["answers"]["finetuned"]["text"]
    exported = tmp_path / "chats.jsonl"
    said = cli_json("chat", str(run.id), "--export", str(exported))
    assert said == ChatsExported(run_id=run.id, path=str(exported), conversations=1).model_dump(mode="json")
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert rows[-1]["messages"][:2] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": PROMPT}]
    assert rows[-1]["messages"][2]["role"] == "assistant"


def test_a_model_bigger_than_the_free_memory_is_refused_in_one_line(tmp_path: Path, tuitune_home: Path) -> None:
    run = completed_run_of_a_huge_model(tmp_path)
    result = cli("chat", str(run.id), "--base", "--prompt", "hi", "--device", "cpu")
    assert_one_line_error(result, "needs about", "of RAM free")


# --- settings and devices a chat cannot use ---------------------------------------------------
def test_a_tiny_temperature_answers_as_greedy_decoding_does(run: Run) -> None:
    # 1e-300 divides the logits into inf/nan; anything that small is greedy decoding anyway.
    assert Sampling(temperature=1e-300).greedy and Sampling(temperature=0.5).greedy is False
    with ChatChild() as chat:
        chat.load("a", run_id=run.id, device="cpu")
        message = [{"role": "user", "content": PROMPT}]
        tiny = list(chat.ask("a", message, Sampling(temperature=1e-300, max_new_tokens=24)))[-1]["answer"]
        greedy = list(chat.ask("a", message, GREEDY))[-1]["answer"]
    assert tiny["text"] == greedy["text"] and tiny["text"].startswith("Hello ")


def test_an_empty_stop_string_is_refused_in_one_line_instead_of_ending_the_answer_at_once(run: Run) -> None:
    result = cli("chat", str(run.id), "--prompt", PROMPT, "-t", "0", "--stop", "", "--device", "cpu")
    assert_one_line_error(result, "--stop", "empty stop string", code=2)
    with pytest.raises(tuitune.TuituneError, match="empty stop string"):
        tuitune.chat(run, PROMPT, temperature=0, stop=["Ada", ""])


@pytest.mark.parametrize(
    ("device", "fragments"),
    [
        ("cpu;rm", ["'cpu;rm'", "cpu, cuda, cuda:N", "available here: cpu"]),
        ("cuda:99", ["cuda:99", "available here: cpu"]),
        ("mps", ["mps", "available here: cpu"]),
    ],
)
def test_a_device_this_machine_does_not_have_is_refused_in_one_line_naming_those_it_has(
    run: Run, device: str, fragments: list[str]
) -> None:
    result = cli("chat", str(run.id), "--prompt", PROMPT, "--device", device)
    assert_one_line_error(result, *fragments, code=2)
    assert "RuntimeError" not in result.stderr


def test_devices_are_checked_before_the_chat_child_starts_and_auto_picks_one() -> None:
    from tuitune.chats.guard import ChatDeviceError, check_device, visible_gpu_count

    gpus = visible_gpu_count()
    assert check_device(None) is None and check_device("auto") is None and check_device(" CPU ") == "cpu"
    with pytest.raises(ChatDeviceError, match=f"cuda:{gpus}"):
        check_device(f"cuda:{gpus}")
    if gpus:
        assert check_device("cuda") == "cuda" and check_device(f"cuda:{gpus - 1}") == f"cuda:{gpus - 1}"
    else:
        with pytest.raises(ChatDeviceError, match="no GPU"):
            check_device("cuda")
    with pytest.raises(ChatDeviceError, match="N: a GPU.s number"):
        check_device("cuda:-1")


def test_auto_loads_the_model_where_it_fits(run: Run) -> None:
    document = cli_json("chat", str(run.id), "--prompt", PROMPT, "-t", "0", "-n", "4", "--device", "auto", "--no-save")
    assert document["loaded"]["finetuned"]["device"] in ("cpu", "cuda")
    assert document["answers"]["finetuned"]["tokens"] == 4


# --- the model's context ----------------------------------------------------------------------
LONG = " ".join(f"Ada likes music number {number}." for number in range(400))  # about 4,700 tokens


def test_a_prompt_longer_than_the_models_context_is_refused_in_one_line(run: Run) -> None:
    result = cli("chat", str(run.id), "--prompt", LONG, "-t", "0", "--device", "cpu", "--no-save", "--json")
    assert_one_line_error(result, "tokens", "reads at most 1,024 tokens", "shorten the prompt")
    # A prompt that fits, but not with the answer asked for: lower the answer's length.
    short_enough = " ".join(LONG.split()[:300])
    result = cli("chat", str(run.id), "--prompt", short_enough, "-n", "1000", "--device", "cpu", "--no-save", "--json")
    assert_one_line_error(result, "reads at most 1,024 tokens", "max new tokens")


def test_a_long_conversation_leaves_its_oldest_turns_out_and_says_so(run: Run) -> None:
    third = " ".join(LONG.split()[:150])  # a turn of about 300 tokens
    history = []
    for name in ("Linus", "Grace", "Ken", "Dennis"):
        history += [{"role": "user", "content": f"{third} Greet {name}."}, {"role": "assistant", "content": third}]
    messages = [*history, {"role": "user", "content": PROMPT}]
    sampling = Sampling(temperature=0, max_new_tokens=24, system_prompt="Be kind.")
    with ChatChild() as chat:
        chat.load("a", run_id=run.id, device="cpu")
        answered = list(chat.ask("a", messages, sampling))[-1]["answer"]
        dropped = answered["dropped_messages"]
        assert dropped > 0 and dropped % 2 == 0 and dropped < len(history)  # whole turns, the newest kept
        # The answer is the model's answer to what was kept (the system message is always kept).
        kept = list(chat.ask("a", messages[dropped:], sampling))[-1]["answer"]
        assert kept["dropped_messages"] == 0 and kept["text"] == answered["text"]


def test_a_prompt_of_absurd_length_is_refused_before_it_reaches_the_model(run: Run) -> None:
    from tuitune.chats.settings import MAX_MESSAGE_CHARACTERS

    with ChatChild() as chat:
        chat.load("a", run_id=run.id, device="cpu")
        with pytest.raises(tuitune.TuituneError, match="characters"):
            list(chat.ask("a", [{"role": "user", "content": "a" * (MAX_MESSAGE_CHARACTERS + 1)}], GREEDY))
        assert list(chat.ask("a", [{"role": "user", "content": PROMPT}], GREEDY))[-1]["answer"]["text"]


# --- a chat child that dies -------------------------------------------------------------------
def test_the_repl_names_the_death_of_its_chat_child_and_answers_the_next_prompt_with_a_new_one(run: Run) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading

    import psutil

    from tests.helpers import wait_for

    repl = subprocess.Popen(
        [sys.executable, "-m", "tuitune", "chat", str(run.id), "-t", "0", "-n", "24", "--device", "cpu", "--no-save"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda: out.extend(iter(lambda: repl.stdout.read(1), "")), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.extend(iter(lambda: repl.stderr.read(1), "")), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()

    def say(line: str) -> None:
        assert repl.stdin is not None
        repl.stdin.write(line + "\n")
        repl.stdin.flush()

    try:
        say(PROMPT)
        wait_for(
            lambda: ("".join(out).count("Hello ") == 1 and "tokens" in "".join(err)) or repl.poll() is not None,
            what="the first answer",
        )
        chat_child = next(
            process
            for process in psutil.Process(repl.pid).children(recursive=True)
            if "tuitune.chats.server" in " ".join(process.cmdline())
        )
        os.kill(chat_child.pid, signal.SIGKILL)
        _dead_to_its_parent(chat_child.pid)
        say("Greet Grace and mention books.")
        wait_for(
            lambda: "".join(out).count("Hello ") == 2 or repl.poll() is not None, timeout=180, what="the second answer"
        )
        say("/exit")
        assert repl.wait(timeout=60) == 0, "".join(err)
    finally:
        if repl.poll() is None:
            repl.kill()
    for reader in readers:
        reader.join(timeout=10)
    stderr = " ".join("".join(err).split())  # rich wraps long lines on a pipe
    assert "".join(out).count("you> Hello ") == 2, stderr  # both prompts answered
    assert "(The chat process died (killed by SIGKILL: the system may have run out of memory): started again.)" in (
        stderr
    )


def _dead_to_its_parent(pid: int) -> None:
    """Wait until `pid`, killed, is a zombie whose last thread is gone too (until then, waitpid waits)."""
    import psutil

    from tests.helpers import wait_for

    process = psutil.Process(pid)
    wait_for(
        lambda: process.status() == psutil.STATUS_ZOMBIE and process.num_threads() == 1, what=f"process {pid} to die"
    )


def test_a_chat_child_that_died_is_started_again_with_its_models_for_the_next_question(run: Run) -> None:
    import os
    import signal

    message = [{"role": "user", "content": PROMPT}]
    with ChatChild() as chat:
        chat.load("a", run_id=run.id, device="cpu")
        chat.load("b", run_id=run.id, which="base", device="cpu")
        first = list(chat.ask("a", message, GREEDY))[-1]["answer"]
        killed = chat.pid
        os.kill(killed, signal.SIGKILL)
        _dead_to_its_parent(killed)
        events = list(chat.ask("b", message, GREEDY))
        assert events[0]["event"] == "restarted" and "killed by SIGKILL" in events[0]["message"]
        assert events[-1]["event"] == "done" and chat.pid != killed
        # Both panes were loaded again, as they were.
        again = list(chat.ask("a", message, GREEDY))
        assert [event["event"] for event in again if event["event"] == "restarted"] == []
        assert again[-1]["answer"]["text"] == first["text"]


def test_a_death_report_quotes_the_last_error_never_a_warning() -> None:
    from tuitune.chats.session import death_report

    warnings = (
        "/venv/lib/python3.11/site-packages/transformers/generation/utils.py:1: UserWarning: `do_sample` is set\n"
        "  warnings.warn(\n"
    )
    assert death_report(-9, warnings) == (
        "The chat process died (killed by SIGKILL: the system may have run out of memory)."
    )
    crashed = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n" + warnings
    )
    assert death_report(1, crashed) == (
        "The chat process died (exit code 1: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB)."
    )
    assert death_report(-11, "") == "The chat process died (killed by SIGSEGV)."
