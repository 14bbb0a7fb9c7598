"""The wizard's helper: `python -m tuitune.probe.server`, one warm child process for every probe.

Describing a model, previewing a dataset and checking a whole run configuration import
transformers (and torch's meta device); so the app never imports this module, it starts it once
as a child and sends it requests. Importing the training stack took 3-4 s of every probe when
each probe was a fresh process; warm, a probe of a 1,000-row file takes a fraction of a second.

Protocol: JSON lines. A request on stdin is `{"id": N, "op": "model" | "data" | "check", "args":
{...}}`; the answers on stdout are `{"id": N, "partial": {...}}` (a preview's first rows, before
the tokens are counted) and then `{"id": N, "ok": true, "result": {...}}` or `{"id": N, "ok":
false, "error": "one line"}`. Requests are answered one at a time, in order: transformers' lazy
imports are not safe from two threads at once. Results are cached by what they read: a file's
path, size and modification time.

`python -m tuitune.probe.server MODEL [--vram GB]` still prints one model's description as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from tuitune.errors import TuituneError
from tuitune.probe import cache as probe_cache
from tuitune.system.gpu import visible_gpus

# The config, data and models modules are imported where a request needs them, not at the top:
# the process starts reading requests at once, a preview reads its rows while the warm-up thread
# imports the training stack (see `serve`), and what needs transformers waits for it (`warm`).

# How many answers the cache keeps, and how many samples a preview shows.
CACHE_SIZE = 64
PREVIEW_SAMPLES = 3
SAMPLE_CHARACTERS = 600


def _plain(value: Any) -> Any:
    """Dataclasses, paths and tuples as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def one_line(error: BaseException) -> str:
    """A TuituneError's own message; anything else as its type and first line."""
    if isinstance(error, TuituneError):
        return str(error)
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:400]}" if text else type(error).__name__


# --- what the helper does -------------------------------------------------------------------
def probe_model(name: str, vram_gb: float | None = None) -> dict[str, Any]:
    """The model's description and, when it can be made, a recommendation."""
    from tuitune.models.inspect import describe_model

    info = describe_model(name)
    # The GPUs runs may be given (TUITUNE_GPUS, CUDA_VISIBLE_DEVICES, NVML): with more than one,
    # the wizard offers a process group, with the strategy and per-GPU memory recommended for them.
    gpus = visible_gpus()
    document: dict[str, Any] = {
        "model": _plain(info),
        "recommendation": None,
        "recommendation_error": None,
        "gpus": gpus,
    }
    try:
        from tuitune.models.recommend import recommend

        document["recommendation"] = _plain(recommend(name, vram_gb=vram_gb, gpus=max(1, len(gpus))))
    except Exception as exc:  # a missing recommendation must not hide the model's description
        document["recommendation_error"] = str(exc) or type(exc).__name__
    return document


class Prober:
    """Answers requests, keeping tokenizers and answers in memory between them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._tokenizers: dict[str, Any] = {}
        # Set once transformers is imported. Its lazy module is not safe to import from two
        # threads at once, so whatever needs it waits for the warm-up rather than racing it.
        self.warm = threading.Event()

    def warm_up(self) -> None:
        """Import the training stack before the first request needs it (most of a cold probe)."""
        try:
            import transformers  # noqa: F401 - imported for its import time only

            import tuitune.data.prepare
            import tuitune.models.inspect
            import tuitune.models.loading  # noqa: F401
        except Exception:
            pass
        finally:
            self.warm.set()

    # --- caches ---------------------------------------------------------------------------
    def _cached(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        return None

    def _remember(self, key: tuple[Any, ...], answer: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > CACHE_SIZE:
                self._answers.popitem(last=False)
        return answer

    def tokenizer(self, name: str) -> Any:
        """The model's tokenizer, loaded once (the demo model is built on first use)."""
        with self._lock:
            if name in self._tokenizers:
                return self._tokenizers[name]
        self.warm.wait()
        from tuitune.config import ModelSettings
        from tuitune.models.loading import load_tokenizer

        tokenizer = load_tokenizer(ModelSettings(name_or_path=name))
        with self._lock:
            return self._tokenizers.setdefault(name, tokenizer)

    # --- requests ---------------------------------------------------------------------------
    def model(self, args: dict[str, Any], partial: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        name, vram = str(args["name"]), args.get("vram_gb")
        key = ("model", name, vram, _identity(name))
        cached = self._cached(key)
        if cached is not None:
            return cached
        self.warm.wait()
        answer = self._remember(key, probe_model(name, vram))
        probe_cache.write(name, answer, vram)  # the next session shows it at once
        return answer

    def data(self, args: dict[str, Any], partial: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """What `tuitune data SOURCE --objective OBJECTIVE --json` reports, with the first rows sent ahead.

        `objective` None reads the data for the objective its format is for (as `tuitune data`
        does); a named one reads it as that run would, and data it does not learn from is refused
        in the data layer's own words. Either way the answer says which objective it was read for
        and which one the data suggests."""
        from tuitune.config import DEMO_MODEL, DataSettings
        from tuitune.data.split import load_examples

        source = str(args["source"])
        model = args.get("model") or DEMO_MODEL
        method = args.get("method") or "lora"
        named = args.get("objective") or None
        chosen_only = bool(args.get("chosen_only"))
        settings = DataSettings(source=source, max_length=int(args.get("max_length") or 512))
        key = ("data", source, model, method, named, chosen_only, settings.max_length, _identity(source))
        cached = self._cached(key)
        if cached is not None:
            return cached
        loaded = load_examples(settings, method=method, objective=named, chosen_only=chosen_only)
        suggested = objective_for_format(loaded.format)
        objective = named or suggested
        partial(
            {
                "source": source,
                "format": loaded.format,
                "rows": loaded.parsed.rows,
                "columns": loaded.parsed.columns,
                "objective": objective,
                "suggested_objective": suggested,
                "samples": [example_text(example) for example in loaded.examples[:PREVIEW_SAMPLES]],
                "pairs": [record_view(record) for record in loaded.parsed.records[:PREVIEW_SAMPLES]]
                if objective != "sft"
                else [],
            }
        )
        tokenizer = self.tokenizer(model)  # after the warm-up: see `warm`
        from tuitune.data.prepare import prepare_loaded

        prepared = prepare_loaded(loaded, settings, tokenizer, method=method, objective=objective)
        document = prepared.stats.to_dict()
        document.update(
            template=prepared.template.name,
            template_description=prepared.template.describe(),
            tokenizer=model,
            objective=objective,
            suggested_objective=suggested,
            previews=[sample.to_dict() for sample in prepared.preview(PREVIEW_SAMPLES)],
        )
        return self._remember(key, _plain(document))

    def check(self, args: dict[str, Any], partial: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Everything the engine does with a configuration before its first step, minus the weights.

        The same calls as the training worker (tuitune.engine.runner), so the wizard refuses
        exactly what a launched run would fail on: the configuration, the precision for this
        machine, the tokenizer, the data read, checked against the method, templated, tokenized
        and split, and the Trainer's arguments.
        """
        from tuitune.config import parse_config

        config = parse_config(args["config"], "the new-run form")
        key = ("check", json.dumps(config.to_dict(), sort_keys=True, default=str), _identity(config.data.source))
        cached = self._cached(key)
        if cached is not None:
            return cached
        self.warm.wait()
        from tuitune.engine.preflight import preflight

        prepared = preflight(config, tokenizer=self.tokenizer(config.model.name_or_path)).prepared
        result = {
            "format": prepared.format,
            "template": prepared.template.name,
            "train": len(prepared.train),
            "validation": len(prepared.validation),
            "dropped": dict(prepared.stats.dropped),
        }
        return self._remember(key, result)


def _identity(source: str) -> tuple[Any, ...]:
    """What a cached answer depends on: a local file's size and modification time (else nothing)."""
    path = Path(source).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return ()
    if path.is_dir():  # a folder of data files: any of them may change
        stats = []
        for child in sorted(path.iterdir()):
            try:
                child_stat = child.stat()
            except OSError:
                continue
            stats.append((child.name, child_stat.st_size, child_stat.st_mtime_ns))
        return (str(path.resolve()), tuple(stats))
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def objective_for_format(format: str) -> str:
    """The objective a data format suggests: the first (sft, dpo, kto, ...) that learns from it, so
    pairs suggest dpo, labelled answers kto, prompts grpo, anything else sft (config.OBJECTIVE_FORMATS)."""
    from tuitune.config import OBJECTIVE_FORMATS, OBJECTIVES

    return next((objective for objective in OBJECTIVES if format in OBJECTIVE_FORMATS[objective]), "sft")


def record_view(record: Any, limit: int = SAMPLE_CHARACTERS) -> dict[str, Any]:
    """A preference record as read, before the template, in the shape of a preview's `pair`: the
    prompt, then the chosen and rejected answers, or the labelled completion, or the other columns."""
    view: dict[str, Any] = {"prompt": example_text(record.prompt, limit)}
    if hasattr(record, "rejected"):
        view.update(chosen=_cut(record.chosen, limit), rejected=_cut(record.rejected, limit))
    elif hasattr(record, "label"):
        view.update(completion=_cut(record.completion, limit), label=bool(record.label))
    else:
        view["columns"] = {str(name): _cut(str(value), limit) for name, value in getattr(record, "extra", {}).items()}
    return view


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def example_text(example: Any, limit: int = SAMPLE_CHARACTERS) -> str:
    """An example as plain text, before any template: `user: …` / `assistant: …`, or the text."""
    messages = getattr(example, "messages", None)
    if messages is None:
        text = str(getattr(example, "text", example))
    else:
        text = "\n".join(f"{message.role}: {message.content}" for message in messages)
    return _cut(text, limit)


# --- serving ----------------------------------------------------------------------------------
def serve(requests: TextIO, answers: TextIO) -> int:
    """Answer JSON-line requests until stdin closes (the app quit or died)."""
    prober = Prober()
    write_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        line = json.dumps(message, default=str)
        with write_lock:
            answers.write(line + "\n")
            answers.flush()

    def handle(request: dict[str, Any]) -> None:
        request_id = request.get("id")
        operation = {"model": prober.model, "data": prober.data, "check": prober.check}.get(request.get("op", ""))
        try:
            if operation is None:
                raise ValueError(f"unknown request {request.get('op')!r}")
            result = operation(request.get("args") or {}, lambda partial: send({"id": request_id, "partial": partial}))
        except BaseException as error:
            send({"id": request_id, "ok": False, "error": one_line(error)})
            return
        send({"id": request_id, "ok": True, "result": result})

    # Warm up while the first request is on its way: a preview reads its rows meanwhile.
    threading.Thread(target=prober.warm_up, daemon=True).start()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as pool:
        for line in requests:
            line = line.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                continue
            pool.submit(handle, request)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.probe.server")
    parser.add_argument("model", nargs="?", help="Describe this model and exit (without it: serve requests).")
    parser.add_argument("--vram", type=float, default=None)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.model is None:
        # Libraries print to stdout now and then; only our answers may go there.
        answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        return serve(sys.stdin, answers)
    try:
        document = probe_model(args.model, args.vram)
    except Exception as exc:  # a TuituneError, or anything else, reaches the user as one line
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
