"""Chat with a run through `tuitune serve`: the fine-tuned model and its base answer the same
prompt in turn, streamed as server-sent events; a turn both answered is kept with the run and the
next message continues it; a stop ends the answer (and the turn is not kept); a refused request
says what to do before any model loads. The models load in chat child processes, not the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from starlette.testclient import TestClient

from tests.helpers import running_server
from tests.trained_runs import home_env, new_home
from tuitune.chats.settings import GREEDY_BELOW, MAX_MESSAGE_CHARACTERS
from tuitune.client import Client
from tuitune.serve.app import create_app
from tuitune.serve.settings import ServeSettings
from tuitune.store import COMPLETED, open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GREEDY: dict[str, Any] = {"temperature": 0, "max_new_tokens": 12}


class Served:
    def __init__(self, url: str, run_id: int, home: Path, pid: int) -> None:
        self.url, self.run_id, self.home, self.pid = url, run_id, home, pid


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> Iterator[Served]:
    """One server, one demo run trained a few steps through it (the server's own queue)."""
    home = new_home(tmp_path_factory, shared_models_dir, "serve-chat")
    with home_env(home), running_server(home=home) as url, Client(url) as client:
        config = {
            "name": "chatty",
            "method": "lora",
            "data": {"max_length": 64},
            "training": {"max_steps": 2, "save_steps": 1000, "logging_steps": 1},
        }
        created = client.create_run(config, queue=False)
        assert client.wait(created["id"], timeout=600)["status"] == COMPLETED
        server = next(process for process in psutil.process_iter() if _serves(process, url))
        yield Served(url, created["id"], home, server.pid)
    from tests.conftest import stop_leftover_processes

    stop_leftover_processes(home)


def _serves(process: psutil.Process, url: str) -> bool:
    """Whether `process` listens on `url`'s port."""
    port = int(url.rsplit(":", 1)[1])
    try:
        return any(connection.laddr and connection.laddr.port == port for connection in process.net_connections())
    except psutil.Error:
        return False


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie (a finished training worker)
        return ""


def chat(url: str, run_id: int, body: dict[str, Any], *, on_event: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """The chat stream's events, read to its end (`on_event` sees each as it comes)."""
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", f"{url}/runs/{run_id}/chat", json=body, timeout=httpx.Timeout(30, read=300)) as response:
        if response.status_code != 200:
            response.read()
            return [("refused", {"status": response.status_code, **response.json()})]
        assert response.headers["content-type"].startswith("text/event-stream")
        kind, data = "message", []
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                events.append((kind, json.loads("\n".join(data))))
                if on_event is not None:
                    on_event(kind, events[-1][1])
                kind, data = "message", []
    return events


def refused(url: str, run_id: int, body: dict[str, Any], status: int, *words: str) -> dict[str, Any]:
    [(kind, answer)] = chat(url, run_id, body)
    assert kind == "refused" and answer["status"] == status, answer
    for word in words:
        assert word in answer["detail"], answer
    return answer


def test_both_models_answer_in_turn_streamed_and_the_turn_is_kept_and_continued(served: Served) -> None:
    url, run_id = served.url, served.run_id
    events = chat(url, run_id, {"prompt": "Say something.", "sampling": GREEDY})
    kinds = [kind for kind, _ in events]
    assert "error" not in kinds, events
    # Each model loads, then streams its answer and its stats: the fine-tuned model first, then the base.
    loaded = {data["model"]: data for kind, data in events if kind == "loaded"}
    assert set(loaded) == {"finetuned", "base"}
    assert "adapter" in loaded["finetuned"]["description"] and "no adapter" in loaded["base"]["description"]
    assert loaded["base"]["context"] == 1024  # the demo model's
    done = [data for kind, data in events if kind == "done"]
    assert [answer["model"] for answer in done] == ["finetuned", "base"]
    for answer in done:
        chunks = "".join(data["text"] for kind, data in events if kind == "chunk" and data["model"] == answer["model"])
        assert chunks.strip() and chunks.strip() == answer["answer"]["text"]
        assert answer["answer"]["tokens"] >= 1 and answer["answer"]["stopped"] in ("eos", "max_tokens")
    first_base_chunk = next(i for i, (kind, data) in enumerate(events) if kind == "chunk" and data["model"] == "base")
    assert kinds.index("done") < first_base_chunk  # in turn, not interleaved
    assert events[-1][0] == "end" and events[-1][1]["kept"] is True
    conversation_id = events[-1][1]["conversation_id"]

    # The turn is kept with the run (one conversation), with each model's answer and the settings.
    [kept] = httpx.get(f"{url}/runs/{run_id}/conversations").json()
    assert kept["id"] == conversation_id and kept["title"] == "Say something."
    assert kept["turns"][0]["answers"]["base"]["text"] == done[1]["answer"]["text"]
    assert kept["settings"]["temperature"] == 0 and kept["settings"]["max_new_tokens"] == 12

    # The next message continues it (here through the Python client); the models were loaded already.
    with Client(url) as client:
        again = list(client.chat(run_id, "And again.", conversation_id=conversation_id, timeout=300, **GREEDY))
    assert [data["model"] for kind, data in again if kind == "done"] == ["finetuned", "base"]
    assert again[-1] == ("end", {"kept": True, "conversation_id": conversation_id})
    [kept] = httpx.get(f"{url}/runs/{run_id}/conversations").json()
    assert [turn["prompt"] for turn in kept["turns"]] == ["Say something.", "And again."]

    # The models live in chat child processes, not in the server's.
    server = psutil.Process(served.pid)
    assert not any("torch" in m.path for m in server.memory_maps()), "the server loaded torch"
    children = [child for child in server.children(recursive=True) if "tuitune.chats.server" in _command(child)]
    assert len(children) == 1


def test_a_stop_ends_the_answer_and_the_turn_is_not_kept(served: Served) -> None:
    url, run_id = served.url, served.run_id
    before = httpx.get(f"{url}/runs/{run_id}/conversations").json()
    stops: list[dict[str, Any]] = []

    def stop_at_first_chunk(kind: str, data: dict[str, Any]) -> None:
        if kind == "chunk" and not stops:
            stops.append(httpx.post(f"{url}/runs/{run_id}/chat/stop", json={}).json())

    # Long answers (sampled: no early end of answer): the stop comes long before they could end.
    long = {"temperature": 1.0, "max_new_tokens": 900, "seed": 7}
    events = chat(url, run_id, {"prompt": "Talk.", "sampling": long}, on_event=stop_at_first_chunk)
    assert stops == [{"run_id": run_id, "stopped": True}]
    done = [data for kind, data in events if kind == "done"]
    assert [answer["model"] for answer in done] == ["finetuned"]  # the base did not answer this prompt
    assert done[0]["answer"]["stopped"] == "interrupted" and done[0]["answer"]["tokens"] < 900
    assert events[-1] == ("end", {"kept": False, "conversation_id": None})
    assert httpx.get(f"{url}/runs/{run_id}/conversations").json() == before
    # Nothing is being written now: a stop says so.
    assert httpx.post(f"{url}/runs/{run_id}/chat/stop", json={}).json() == {"run_id": run_id, "stopped": False}


def test_refusals_say_what_to_do_before_any_model_loads(served: Served) -> None:
    url, run_id = served.url, served.run_id
    refused(url, 999, {"prompt": "Hi"}, 404, "999")
    answer = refused(url, run_id, {"prompt": "Hi", "sampling": {"temperature": 9}}, 422, "sampling.temperature")
    assert answer["field"] == "sampling.temperature"
    refused(url, run_id, {"prompt": "Hi", "sampling": {"max_new_tokens": 0}}, 422, "sampling.max_new_tokens")
    refused(url, run_id, {"prompt": "Hi", "models": ["base", "base"]}, 422, "name each model once")
    refused(url, run_id, {"prompt": "   "}, 422, "empty")
    refused(url, run_id, {"prompt": "Hi", "conversation_id": 4242}, 404, "no conversation 4242", "new one")
    # A run whose configuration runs code (its model's own Python files) on a server not started to allow it.
    with home_env(served.home):
        own_code = open_store().create_run(
            name="own-code",
            config={"model": {"trust_remote_code": True}},
            model="m",
            method="lora",
            dataset="d",
            status=COMPLETED,
        )
        # Waiting in a paused queue: it stays active, with nothing trained.
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        waiting = open_store().create_run(
            name="waiting", config={}, model="m", method="lora", dataset="d", status="queued", in_queue=True
        )
    refused(
        url,
        own_code.id,
        {"prompt": "Hi"},
        422,
        "model.trust_remote_code",
        "chat with it from the CLI",
        "--allow-remote-code",
    )
    # A run still in the queue has nothing trained: its fine-tuned model cannot answer yet.
    refused(url, waiting.id, {"prompt": "Hi"}, 409, f"Run {waiting.id}", "wait for it to finish")
    refused(url, 999, {"prompt": "Hi"}, 404)
    assert httpx.post(f"{url}/runs/999/chat/stop", json={}).status_code == 404
    assert httpx.get(f"{url}/runs/999/conversations").status_code == 404

    # The settings a page offers, with their limits from the server.
    settings = httpx.get(f"{url}/chat/settings").json()
    assert settings["sampling"]["properties"]["temperature"]["maximum"] == 5
    assert settings["side_by_side"] == ["finetuned", "base"]
    assert settings["max_message_characters"] == MAX_MESSAGE_CHARACTERS and settings["greedy_below"] == GREEDY_BELOW


def test_an_over_long_message_is_refused_in_the_chat_process_words(tmp_path: Path) -> None:
    # Over a million characters does not fit the default body limit (a 413): this app takes larger
    # bodies, so the chat's own limit is what refuses it, before any chat process starts.
    run = open_store().create_run(name="r", config={}, model="m", method="lora", dataset="d", status=COMPLETED)
    app = create_app(ServeSettings(max_body_bytes=3 * MAX_MESSAGE_CHARACTERS))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.post(
            f"/runs/{run.id}/chat", json={"prompt": "x" * (MAX_MESSAGE_CHARACTERS + 1), "models": ["base"]}
        )
        assert response.status_code == 422, response.text
        assert "longer than any model reads" in response.json()["detail"] and "shorten it" in response.json()["detail"]
        assert getattr(app.state, "chat_pool", None) is None  # no chat process was started


def test_the_pool_keeps_the_most_recent_runs_chats_and_one_turn_at_a_time() -> None:
    from tuitune.errors import RunStateError
    from tuitune.serve.chat_pool import ChatPool

    pool = ChatPool(size=2)
    first = pool.take(1)
    with pytest.raises(RunStateError, match="answering another message"):
        pool.take(1)  # a second message while the first is answered
    assert first.stop() is True  # a turn is held: a stop reaches it
    first.release()
    assert first.stop() is False  # nothing is being answered
    pool.take(2).release()
    busy = pool.take(3)  # over the size: the least recently used idle chat (run 1) goes
    assert pool.find(1) is None and pool.find(2) is not None
    pool.take(2).release()
    pool.take(4).release()  # run 3 answers: it stays, and the next idle one (2) goes instead
    assert pool.find(3) is busy and pool.find(2) is None and pool.find(4) is not None
    busy.release()
    pool.close()
    assert pool.find(3) is None
