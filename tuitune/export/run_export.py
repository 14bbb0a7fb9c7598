"""`tuitune export RUN --to gguf|ollama|vllm`: a run's model, ready for the tools people serve with.

Everything lands in `<run folder>/export/` (recorded in the run's manifest, so deleting the run's
files deletes it) and every file is an artifact of the run. A GGUF is always checked by a round
trip before it is kept: read back by transformers, it must compute what the trained model computes
on the run's own held-out data (`tuitune.export.gguf.roundtrip`); the figures go into the run's
events and the result. An adapter run is merged into its base for the GGUF on the fly (in float32,
in a staging folder that is removed after), so nothing but the export is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuitune.errors import EvaluationError, ExportError
from tuitune.export import chat_formats, ollama, vllm
from tuitune.export.choices import DEFAULT_QUANT, K_QUANTS, QUANTS, TARGETS
from tuitune.export.gguf.roundtrip import AGREEMENT, MAX_ABS, RoundTripError
from tuitune.export.weights import adapter_config, run_weights
from tuitune.runs import folder as run_folder
from tuitune.runs.files import run_config, trained_template
from tuitune.runs.results import ExportResult
from tuitune.store import Run, Store, open_store
from tuitune.system.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

EXPORT_FOLDER = "export"
# Held-out examples the round trip compares on: enough positions that agreement means something,
# few enough that the check costs seconds next to the export.
CHECK_EXAMPLES = 8
CHAT_TEMPLATE_FILE = "chat_template.jinja"

Progress = Callable[[str], None]


def export_run(
    run: Run,
    *,
    to: str,
    quant: str = DEFAULT_QUANT,
    merge: bool = False,
    ollama_create: bool = False,
    store: Store | None = None,
    on_progress: Progress | None = None,
) -> ExportResult:
    """Export a completed run for `to` (gguf, ollama or vllm); see the module docstring.

    `merge` (vllm only) serves the merged model instead of base + adapter; `ollama_create` (ollama
    only) also runs `ollama create`, when Ollama is installed.
    """
    store = store or open_store()
    say = on_progress or (lambda _: None)
    if to not in TARGETS:
        raise ExportError(f"Unknown export target {to!r}: use one of {', '.join(TARGETS)}.")
    quants = QUANTS + K_QUANTS
    if quant not in quants:
        raise ExportError(f"Unknown quantization {quant!r}: use one of {', '.join(quants)}.")
    if (merge and to != "vllm") or (ollama_create and to != "ollama"):
        raise ExportError("--merge goes with --to vllm, and --ollama-create with --to ollama.")
    if to == "vllm":
        return _export_vllm(run, merge=merge, store=store, say=say)
    return _export_gguf(run, to=to, quant=quant, ollama_create=ollama_create, store=store, say=say)


# --- GGUF and Ollama ----------------------------------------------------------------------------
def _export_gguf(run: Run, *, to: str, quant: str, ollama_create: bool, store: Store, say: Progress) -> ExportResult:
    from tuitune.export.gguf.roundtrip import round_trip
    from tuitune.export.gguf.vocab import read_vocabulary
    from tuitune.export.gguf.writer import write_gguf

    weights = run_weights(run, action="export")
    _check_k_quant(quant)
    out_dir = _export_dir(run)
    stem = ollama.model_name(run.name)
    target = out_dir / f"{stem}-{quant}.gguf"
    notes: list[str] = []
    with run_folder.writing(out_dir), _model_folder(run, weights, out_dir, say) as source:
        tokenizer = _tokenizer(source)
        format_name, template = _run_template(run, store, tokenizer)
        bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
        own_jinja = format_name == "tokenizer"
        jinja = (
            tokenizer.chat_template
            if own_jinja
            else chat_formats.jinja_template(format_name, bos_token=bos, eos_token=eos, with_bos=False)
        )
        config = _json(source / "config.json")
        vocabulary = read_vocabulary(source, tokenizer, int(config["vocab_size"]), chat_template=jinja)
        written_quant = "f16" if quant in K_QUANTS else quant
        say(f"writing the GGUF ({quant})…")
        staging = target if quant not in K_QUANTS else out_dir / f".{stem}-f16.gguf"
        written = write_gguf(
            source,
            staging,
            quant=written_quant,
            vocabulary=vocabulary,
            name=run.name,
            on_tensor=_every_tenth(lambda done, total: say(f"writing the GGUF ({quant}): tensor {done}/{total}")),
        )
        if quant in K_QUANTS:
            _llama_quantize(staging, target, quant)
        os.chmod(target, PRIVATE_FILE_MODE)
        say("checking the GGUF against the model (round trip)…")
        examples = _check_examples(run, tokenizer)
        texts = [text for example in examples if (text := "".join(s.text for s in template.render(example)))]
        system = _system_prompt(examples)
        check = round_trip(source, target, texts, quant=quant, add_special_tokens=bool(template.add_special_tokens))
    record = check.to_dict()
    if not check.passed:
        target.unlink(missing_ok=True)
        store.add_event(run.id, f"export to GGUF failed its {check.line()}", level="error")
        raise RoundTripError(
            f"The GGUF does not compute what the model does, so it was not kept: {check.line()}. "
            "Report it with the run's config; export --to vllm meanwhile."
        )
    store.add_event(run.id, f"exported {target.name} ({written.tensors} tensors, {_size(target)}): {check.line()}")
    store.add_artifact(
        run.id,
        kind="gguf",
        path=str(target.resolve()),
        meta={"quant": quant, "arch": written.arch, "round_trip": record},
    )
    files = [str(target.resolve())]
    # --jinja: llama.cpp then formats chats with the file's own template (alpaca or plain included),
    # not with the closest of the formats it knows by name.
    commands = [f"llama-cli -m {target} -cnv --jinja"]
    if to == "ollama":
        modelfile_path, notes_here, command = _write_modelfile(
            run, target, format_name, jinja, tokenizer, system, quant=quant, check_line=check.line()
        )
        notes += notes_here
        store.add_artifact(run.id, kind="modelfile", path=str(modelfile_path.resolve()), meta={"model": stem})
        files.append(str(modelfile_path.resolve()))
        commands = [command, f"ollama run {stem}"]
        if ollama_create:
            say(f"ollama create {stem}…")
            ollama.create(stem, modelfile_path)
            store.add_event(run.id, f"created the Ollama model {stem}")
            commands = [f"ollama run {stem}"]
    return ExportResult(
        run_id=run.id, to=to, quant=quant, files=files, commands=commands, notes=notes, round_trip=record
    )


def _write_modelfile(
    run: Run,
    gguf_path: Path,
    format_name: str,
    jinja: str | None,
    tokenizer: Any,
    system: str | None,
    *,
    quant: str,
    check_line: str,
) -> tuple[Path, list[str], str]:
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    notes: list[str] = []
    go_name = format_name
    if format_name == "tokenizer":
        # The tokenizer's own template has a Go twin only when it is chatml under another name.
        go_name = "chatml" if jinja and chat_formats.same_as("chatml", jinja, bos, eos) else ""
        if not go_name:
            notes.append(
                "The run trained with the tokenizer's own chat template, which tuitune cannot write for Ollama: "
                "the Modelfile has no TEMPLATE, so Ollama reads the GGUF's template and may format prompts its own way."
            )
    go = chat_formats.go_template(go_name, bos_token=bos, eos_token=eos) if go_name else None
    stops = chat_formats.stop_tokens(go_name or "plain", eos_token=eos)
    comments = [
        f"Run {run.id} ({run.name}) as a {quant} GGUF, written by `tuitune export {run.id} --to ollama`.",
        f"The {check_line}.",
    ]
    text, more = ollama.modelfile(gguf_path.name, template=go, stops=stops, system=system, comments=comments)
    path = gguf_path.parent / ollama.MODELFILE
    _write_private(path, text)
    return path, notes + more, " ".join(ollama.create_command(ollama.model_name(run.name), path))


# --- vLLM ---------------------------------------------------------------------------------------
def _export_vllm(run: Run, *, merge: bool, store: Store, say: Progress) -> ExportResult:
    from tuitune.models.loading import resolve_model_path

    weights = run_weights(run, action="export")
    out_dir = _export_dir(run)
    name = ollama.model_name(run.name)
    notes: list[str] = []
    config = run_config(run)
    with run_folder.writing(out_dir):
        if weights.is_adapter and merge:
            from tuitune.export.merge import merge_run

            say("merging the adapter into its base…")
            model_path = merge_run(run, store=store)
        else:
            model_path = weights.path
        tokenizer = _tokenizer(model_path if not weights.is_adapter or merge else weights.path)
        format_name, _ = _run_template(run, store, tokenizer)
        template_path = out_dir / CHAT_TEMPLATE_FILE
        if format_name == "tokenizer":
            jinja = tokenizer.chat_template
        else:
            # vLLM adds no special tokens to a chat prompt: the template writes the BOS itself.
            adds_bos = _adds_bos(tokenizer)
            jinja = chat_formats.jinja_template(
                format_name, bos_token=tokenizer.bos_token or "", eos_token=tokenizer.eos_token or "", with_bos=adds_bos
            )
        _write_private(template_path, jinja)
        comments = [f"Serve run {run.id} ({run.name}) with vLLM; written by `tuitune export {run.id} --to vllm`."]
        if weights.is_adapter and not merge:
            serving = vllm.check_adapter(
                adapter_config(weights.path), run_hint=f"tuitune export {run.id} --to vllm --merge"
            )
            base = resolve_model_path(config.model.name_or_path)
            command = vllm.lora_command(base, weights.path.resolve(), name, serving, template_path.resolve())
            comments.append(
                f"Checked as vLLM would: LoRA rank {adapter_config(weights.path).get('r')} "
                f"(served with --max-lora-rank {serving.max_lora_rank}), modules {', '.join(serving.modules)}."
            )
            if config.model.revision:
                command[3:3] = ["--revision", config.model.revision]
        else:
            command = vllm.model_command(Path(model_path).resolve(), name, template_path.resolve())
        script_path = out_dir / vllm.SCRIPT_NAME
        _write_private(script_path, vllm.script(command, comments))
        script_path.chmod(0o700)
    store.add_artifact(run.id, kind="vllm-script", path=str(script_path.resolve()), meta={"command": command})
    store.add_event(run.id, f"wrote {script_path.name}: {' '.join(command[:3])} …")
    files = [str(template_path.resolve()), str(script_path.resolve())]
    return ExportResult(run_id=run.id, to="vllm", files=files, commands=[str(script_path.resolve())], notes=notes)


# --- helpers ------------------------------------------------------------------------------------
def _export_dir(run: Run) -> Path:
    if not run.output_dir:
        raise ExportError(f"Run {run.id} ({run.name}) has no folder to export into: train it first.")
    folder = Path(run.output_dir) / EXPORT_FOLDER
    try:
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    except OSError as error:
        raise ExportError(f"Cannot write into {folder}: {error.strerror or error}.") from None
    return folder


@contextmanager
def _model_folder(run: Run, weights: Any, out_dir: Path, say: Progress) -> Iterator[Path]:
    """The standalone model to write: `model/` of a full run; an adapter run merged in float32
    into a staging folder (removed when the export is done, whether or not it worked)."""
    if not weights.is_adapter:
        yield weights.path
        return
    from tuitune.export.merge import merge_adapter

    config = run_config(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".merging-", dir=out_dir))
    try:
        say("merging the adapter into its base (float32)…")
        merge_adapter(
            weights.path,
            staging / "model",
            base_model=config.model.name_or_path,
            dtype="float32",
            revision=config.model.revision,
            trust_remote_code=config.model.trust_remote_code,
        )
        yield staging / "model"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as error:
        raise ExportError(
            f"Cannot read the tokenizer saved in {folder} ({str(error).splitlines()[0][:200]})."
        ) from None


def _run_template(run: Run, store: Store, tokenizer: Any) -> tuple[str, Any]:
    """The template the run trained with: its name (chatml, alpaca, llama2, plain or tokenizer)
    and the template itself."""
    from tuitune.data import get_template

    config = run_config(run)
    recorded, data_format = trained_template(run, store)
    template = get_template(recorded or config.data.template, tokenizer, format=data_format, method=config.method)
    return template.name, template


def _check_examples(run: Run, tokenizer: Any) -> list[Any]:
    """The examples the round trip compares on: held-out examples of the run's own data (the
    training rows when it held none out), rendered as the model read them in training."""
    from tuitune.data import load_examples
    from tuitune.evaluation.heldout import held_out

    config = run_config(run)
    try:
        examples = held_out(config, tokenizer, samples=CHECK_EXAMPLES).examples
    except EvaluationError:
        examples = []
    if not examples:
        objective = None if config.objective == "sft" else config.objective
        examples = list(load_examples(config.data, method=config.method, objective=objective).train[:CHECK_EXAMPLES])
    return examples


def _system_prompt(examples: list[Any]) -> str | None:
    """The system message every example opens with, when they all share one: the run's system
    prompt, as its data says it (Ollama then sends it before each conversation, as training did)."""
    from tuitune.data import Conversation

    systems = {
        example.messages[0].content
        for example in examples
        if isinstance(example, Conversation) and example.messages and example.messages[0].role == "system"
    }
    if len(systems) != 1 or not all(isinstance(e, Conversation) and e.messages[0].role == "system" for e in examples):
        return None
    return systems.pop()


def _every_tenth(report: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """`report`, called when another tenth of the tensors is written (not for every tensor)."""
    last = [-1]

    def on_tensor(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != last[0]:
            last[0] = tenth
            report(done, total)

    return on_tensor


def _check_k_quant(quant: str) -> None:
    if quant in K_QUANTS and shutil.which("llama-quantize") is None:
        raise ExportError(
            f"{quant.upper()} is written by llama.cpp's llama-quantize, which is not on the PATH (tuitune never "
            "downloads or builds it): install llama.cpp, or choose q8_0 or q4_0."
        )


def _llama_quantize(source: Path, target: Path, quant: str) -> None:
    try:
        done = subprocess.run(
            ["llama-quantize", str(source), str(target), quant.upper()],
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
    finally:
        source.unlink(missing_ok=True)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"llama-quantize failed ({last[0][:300]}): try q8_0 or q4_0, which tuitune writes itself.")


def _adds_bos(tokenizer: Any) -> bool:
    bos = getattr(tokenizer, "bos_token_id", None)
    return bos is not None and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [bos]


def _json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def _write_private(path: Path, text: str) -> None:
    from tuitune.system.paths import write_private_text

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    write_private_text(partial, text)
    os.replace(partial, path)


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


__all__ = ["AGREEMENT", "DEFAULT_QUANT", "MAX_ABS", "TARGETS", "export_run"]
