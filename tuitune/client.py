"""A small Python client for `tuitune serve`, for notebooks and scripts on another machine.

    from tuitune.client import Client
    client = Client("http://gpu-box:8765", token="…")
    run = client.create_run({"model": {"name_or_path": "Qwen/Qwen2.5-0.5B"}, "data": {"source": "data.jsonl"}})
    for kind, data in client.stream(run["id"]):
        if kind == "point":
            print(data["step"], data["loss"])
    print(client.run(run["id"])["status"])

Errors come back as `ClientError` carrying the server's one-line message and HTTP status.
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterator
from typing import Any

import httpx

from tuitune.errors import TuituneError

DEFAULT_URL = "http://127.0.0.1:8765"


class ClientError(TuituneError):
    """The server refused a request; `status` is its HTTP status code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Client:
    """Talks to one tuitune server (`tuitune serve`)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 30.0) -> None:
        # The header tells the server this is a program, not a web page posting behind the user's back.
        headers = {"X-Tuitune-Client": "1", **({"Authorization": f"Bearer {token}"} if token else {})}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ClientError(
                f"Cannot reach the tuitune server at {self.url} ({error}): is `tuitune serve` running?", 0
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("detail", response.text)
            except ValueError:
                message = response.text
            raise ClientError(str(message), response.status_code)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # --- runs --------------------------------------------------------------------------------
    def create_run(self, config: Any, *, queue: bool = True) -> dict[str, Any]:
        """Start a run from a `RunConfig` or a dict of the same shape; it waits in the queue by default."""
        return self._call("POST", "/runs", json=_plain_config(config), params={"queue": str(queue).lower()})

    def runs(
        self,
        *,
        status: str | None = None,
        sweep: int | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        params = {
            k: v
            for k, v in {"status": status, "sweep": sweep, "text": text, "limit": limit, "offset": offset}.items()
            if v is not None
        }
        return self._call("GET", "/runs", params=params)["runs"]

    def run(self, run_id: int) -> dict[str, Any]:
        return self._call("GET", f"/runs/{run_id}")

    def metrics(self, run_id: int, *, after: int = -1) -> list[dict[str, Any]]:
        return self._call("GET", f"/runs/{run_id}/metrics", params={"after": after})["points"]

    def events(self, run_id: int, *, after: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", f"/runs/{run_id}/events", params={"after": after})["events"]

    def log(self, run_id: int, *, tail: int | None = None) -> str:
        return self._call("GET", f"/runs/{run_id}/log", params={"tail": tail} if tail is not None else {})

    def cancel(self, run_id: int) -> dict[str, Any]:
        return self._call("POST", f"/runs/{run_id}/cancel")

    def resume(
        self, run_id: int, *, epochs: float | None = None, max_steps: int | None = None, queue: bool = False
    ) -> dict[str, Any]:
        return self._call(
            "POST", f"/runs/{run_id}/resume", json={"epochs": epochs, "max_steps": max_steps, "queue": queue}
        )

    def rerun(self, run_id: int, *, queue: bool = True) -> dict[str, Any]:
        """A new run with a past run's configuration; its answer lists what has changed since (`warnings`)."""
        return self._call("POST", f"/runs/{run_id}/rerun", json={"queue": queue})

    def label(
        self,
        run_id: int,
        *,
        notes: str | None = None,
        clear_notes: bool = False,
        tags: list[str] | None = None,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Change a run's note (or `clear_notes`) and tags (`tags` replaces them all); returns both."""
        body: dict[str, Any] = {"add_tags": add_tags or [], "remove_tags": remove_tags or []}
        if notes is not None or clear_notes:
            body["notes"] = None if clear_notes else notes
        if tags is not None:
            body["tags"] = tags
        return self._call("PATCH", f"/runs/{run_id}", json=body)

    def delete(self, run_id: int, *, files: bool = False) -> dict[str, Any]:
        return self._call("DELETE", f"/runs/{run_id}", params={"files": str(files).lower()})

    def evaluate(self, run_id: int, *, samples: int | None = None, compare_base: bool = True) -> dict[str, Any]:
        return self._call("POST", f"/runs/{run_id}/evaluate", json={"samples": samples, "compare_base": compare_base})

    def merge(self, run_id: int, *, output: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/runs/{run_id}/merge", json={"output": output})

    def export(self, run_id: int, *, to: str, quant: str = "q8_0", merge: bool = False) -> dict[str, Any]:
        """Start exporting a run for serving (gguf, ollama or vllm): a task, like merge."""
        return self._call("POST", f"/runs/{run_id}/export", json={"to": to, "quant": quant, "merge": merge})

    def upload(
        self, run_id: int, repo_id: str, *, private: bool = True, gguf: bool = False, token: str | None = None
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/runs/{run_id}/upload",
            json={"repo_id": repo_id, "private": private, "gguf": gguf, "token": token},
        )

    def config(self, run_id: int) -> dict[str, Any]:
        """What the run trains: its whole configuration."""
        return self._call("GET", f"/runs/{run_id}/config")

    def evaluations(self, run_id: int) -> list[dict[str, Any]]:
        """The run's evaluations, newest first, with their kept samples."""
        return self._call("GET", f"/runs/{run_id}/evaluations")

    def task(self, task_id: int) -> dict[str, Any]:
        return self._call("GET", f"/tasks/{task_id}")

    # --- the live stream ---------------------------------------------------------------------
    def stream(self, run_id: int, *, timeout: float | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, data) for each server-sent event of a run — `point`, `event`, `status`, and `restart`
        when a resume replaced its points (all of them follow) — until `end`."""
        return self._events("GET", f"/runs/{run_id}/stream", timeout=timeout)

    def chat(
        self,
        run_id: int,
        prompt: str,
        *,
        conversation_id: int | None = None,
        models: tuple[str, ...] = ("finetuned", "base"),
        timeout: float | None = None,
        **sampling: Any,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, data) as each model answers `prompt` in turn — `loaded`, `chunk` {model, text},
        `done` {model, answer}, `error` — then `end` {kept, conversation_id}. `sampling`: the chat's
        settings (temperature, max_new_tokens, seed, …: GET /chat/settings)."""
        body = {"prompt": prompt, "conversation_id": conversation_id, "models": list(models), "sampling": sampling}
        return self._events("POST", f"/runs/{run_id}/chat", json=body, timeout=timeout)

    def _events(
        self, method: str, path: str, *, json: Any = None, timeout: float | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._http.stream(
            method, path, json=json, timeout=httpx.Timeout(timeout or 30.0, read=timeout)
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ClientError(response.json().get("detail", response.text), response.status_code)
            kind, data = "message", []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    payload = _json.loads("\n".join(data))
                    yield kind, payload
                    if kind == "end":
                        return
                    kind, data = "message", []

    def wait(self, run_id: int, *, timeout: float | None = None) -> dict[str, Any]:
        """Follow the run's stream until it ends; returns the run."""
        for _ in self.stream(run_id, timeout=timeout):
            pass
        return self.run(run_id)

    # --- the machine -------------------------------------------------------------------------
    def queue(self) -> dict[str, Any]:
        return self._call("GET", "/queue")

    def pause(self, paused: bool = True) -> dict[str, Any]:
        return self._call("POST", "/queue/pause", json={"paused": paused})

    def move(self, run_id: int, to: int) -> dict[str, Any]:
        """Move a waiting run to place `to` in the queue (1: next to start)."""
        return self._call("POST", f"/queue/{run_id}/move", json={"to": to})

    def set_slots(self, count: int | None) -> dict[str, Any]:
        """How many runs train at once (None: one per GPU); answers the queue after the change."""
        return self._call("POST", "/queue/slots", json={"count": count})

    def system(self) -> dict[str, Any]:
        return self._call("GET", "/system")

    # --- comparing and checking ------------------------------------------------------------------
    def compare(self, *run_ids: int) -> dict[str, Any]:
        """What `tuitune compare --json` prints for these runs."""
        return self._call("GET", "/compare", params={"runs": ",".join(str(run_id) for run_id in run_ids)})

    def sweeps(self) -> list[dict[str, Any]]:
        return self._call("GET", "/sweeps")

    def sweep(self, sweep_id: int, *, by: str | None = None) -> dict[str, Any]:
        """The sweep's runs, best first by `by` (its default measure when None)."""
        return self._call("GET", f"/sweeps/{sweep_id}", params={"by": by} if by else None)

    def check_config(self, config: Any) -> dict[str, Any]:
        """Check a configuration as a new run's would be, starting nothing: {config, notes}."""
        return self._call("POST", "/config/check", json=_plain_config(config))


def _plain_config(config: Any) -> Any:
    """A `RunConfig` as the mapping the server reads; a mapping as it is."""
    return config.to_dict() if hasattr(config, "to_dict") else config
