"""`tuitune merge` (adapter + base -> standalone model), `tuitune export` (GGUF, Ollama, vLLM) and
`tuitune upload` (to the Hugging Face Hub)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Optional, cast

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.errors import ExportError, UsageError
from tuitune.export.choices import DEFAULT_QUANT, K_QUANTS, QUANTS
from tuitune.runs.present import literal
from tuitune.runs.results import ExportResult, MergeResult
from tuitune.store import open_store
from tuitune.text.user_text import excerpt

# Commands import what they use when they run: `tuitune --help` imports every command module.


@app.command("merge")
def merge_command(
    target: str = typer.Argument(
        ..., metavar="RUN|ADAPTER_DIR", help="A run (id, name or `last`) or an adapter folder."
    ),
    output_dir: Optional[Path] = typer.Argument(
        None,
        metavar="OUTPUT_DIR",
        help="Folder for the merged model (new, empty, or a previous merge); default for a run: <run folder>/merged.",
    ),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="Base to merge into (default: the run's model, or the one the adapter names)."
    ),
    dtype: Optional[str] = typer.Option(
        None, "--dtype", help="float32, float16 or bfloat16 (default: the run's dtype, else the base checkpoint's)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Merge a LoRA adapter into its base: a standalone model that loads without peft.

    A QLoRA adapter is merged into the base loaded in full precision, not into 4-bit weights.
    """
    from tuitune.export.merge import DTYPES, merge_adapter, merge_run
    from tuitune.export.target import run_or_folder

    if dtype is not None and dtype not in DTYPES:
        raise ExportError(f"Unknown dtype {excerpt(dtype)}: use one of {', '.join(DTYPES)}.")
    store = open_store()
    found = run_or_folder(target, store)
    if isinstance(found, Path) and output_dir is None:
        raise UsageError(
            f"Say where to save the merged model: `tuitune merge {literal(target)} OUTPUT_DIR` "
            "(only a run has a default folder, <run folder>/merged)."
        )
    run_id = None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would only clutter stderr
    with err_console.status("merging…") if err_console.is_terminal else nullcontext():
        if isinstance(found, Path):
            merged = merge_adapter(found, cast(Path, output_dir), base_model=base_model, dtype=dtype)
        else:
            run_id = found.id
            merged = merge_run(found, output_dir, dtype=dtype, base_model=base_model, store=store)
    document = MergeResult(
        run_id=run_id, output_dir=str(merged.resolve()), files=sorted(p.name for p in merged.iterdir())
    )
    if json_output:
        print_json(document)
        return
    console.print(Text.assemble(("Merged model saved to ", "green"), literal(document["output_dir"])))
    console.print(f"Load it with AutoModelForCausalLM.from_pretrained({str(merged)!r}).", highlight=False, markup=False)


@app.command("export")
def export_command(
    target: str = typer.Argument(..., metavar="RUN", help="A completed run (id, name or `last`)."),
    to: str = typer.Option(
        ..., "--to", help="gguf (llama.cpp, LM Studio), ollama (GGUF + Modelfile) or vllm (a serve script)."
    ),
    quant: str = typer.Option(
        DEFAULT_QUANT,
        "--quant",
        help=f"GGUF weights: {', '.join(QUANTS)} ({', '.join(K_QUANTS)} with llama.cpp's llama-quantize on the PATH).",
    ),
    merge: bool = typer.Option(False, "--merge", help="vllm: serve the merged model instead of base + adapter."),
    ollama_create: bool = typer.Option(
        False, "--ollama-create", help="ollama: also run `ollama create` (Ollama must be installed)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Export a run for serving, into <run folder>/export: a GGUF checked by a round trip against
    the trained model, an Ollama Modelfile with the run's chat template, or a vLLM serve script."""
    from tuitune.export.run_export import export_run
    from tuitune.runs import lookup

    store = open_store()
    run = lookup.find(target, store=store)
    if to != "vllm" or merge:
        # No bars from transformers (loading, its GGUF reader's tqdm, read when tqdm is imported):
        # stderr carries the export's own progress only.
        os.environ.setdefault("TQDM_DISABLE", "1")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    with err_console.status("exporting…") if err_console.is_terminal else nullcontext() as spinner:

        def progress(line: str) -> None:
            # A spinner on a terminal; plain lines otherwise (the app reads them from its child).
            if spinner is not None:
                spinner.update(line)
            else:
                err_console.print(f"export: {line}", markup=False, highlight=False)

        document: ExportResult = export_run(
            run, to=to, quant=quant, merge=merge, ollama_create=ollama_create, store=store, on_progress=progress
        )
    if json_output:
        print_json(document)
        return
    for note in document["notes"]:
        err_console.print(Text.assemble(("note: ", "yellow"), literal(note)))
    if "round_trip" in document:
        check = document["round_trip"]
        console.print(
            Text.assemble(
                ("Round trip passed", "green"),
                f" ({check['quant']}, {check['prompts']} held-out examples, {check['positions']} positions): "
                f"max |logit diff| {check['max_abs_logit_diff']:.2e}, "
                f"greedy agreement {check['greedy_agreement']:.1%}, token ids equal.",
            )
        )
    for path in document["files"]:
        console.print(Text.assemble(("wrote ", "green"), literal(path)))
    console.print("Next:", highlight=False)
    for command in document["commands"]:
        console.print(f"  {command}", highlight=False, markup=False)


@app.command("upload")
def upload_command(
    target: str = typer.Argument(
        ..., metavar="RUN|PATH", help="A run (id, name or `last`), or an adapter, model or run folder."
    ),
    repo_id: str = typer.Argument(
        ..., metavar="REPO_ID", help="The Hub repository, e.g. your-name/my-model (created if needed)."
    ),
    token: Optional[str] = typer.Option(
        None, "--token", help="Hugging Face token with write access (default: HF_TOKEN, else `hf auth login`)."
    ),
    private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
    merge_adapter: bool = typer.Option(
        False, "--merge-adapter", help="Upload a merged standalone model instead of the adapter."
    ),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Base to merge into with --merge-adapter."),
    gguf: bool = typer.Option(
        False, "--gguf", help="Upload the run's exported GGUF and its Modelfile (see `tuitune export`)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the files and the model card, upload nothing."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Upload a run's adapter (or merged model) to the Hugging Face Hub with a generated model card."""
    from tuitune.export.target import run_or_folder
    from tuitune.export.upload import upload

    store = open_store()
    subject = run_or_folder(target, store)
    with err_console.status("uploading…") if err_console.is_terminal and not dry_run else nullcontext():
        result = upload(
            subject,
            repo_id,
            token=token,
            private=private,
            message=message,
            merge_adapter=merge_adapter,
            base_model=base_model,
            dry_run=dry_run,
            gguf=gguf,
            store=store,
        )
    if json_output:
        print_json(result.to_dict())
        return
    for note in result.notes:
        err_console.print(Text.assemble(("note: ", "yellow"), literal(note)))
    if dry_run:
        console.print(
            Text.assemble(
                ("Dry run", "bold"),
                f": would upload the {result.kind} in {literal(result.folder)} to {literal(repo_id)}"
                + (" (private)" if private else ""),
            )
        )
        for name in result.files:
            console.print(f"  {name}", highlight=False, markup=False)
        console.print()
        console.print("[bold]README.md[/]")
        console.print(result.card, markup=False, highlight=False)
        return
    console.print(Text.assemble((f"Uploaded the {result.kind} to ", "green"), literal(result.url)))
