"""`tuitune merge` (adapter + base -> standalone model) and `tuitune upload` (to the Hugging Face Hub)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional, cast

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.errors import ExportError, UsageError
from tuitune.runs.present import literal
from tuitune.runs.results import MergeResult
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
