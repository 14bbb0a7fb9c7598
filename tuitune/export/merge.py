"""Merge a LoRA adapter into its base model: a standalone model folder that loads without peft.

The base is always loaded in full precision (never 4-bit), so an adapter trained with QLoRA is
folded into real weights rather than into quantized ones that most tools cannot load or re-merge.
The result is written to a temporary sibling folder first and moved into place at the end, so an
interrupted merge never leaves a half-written model where a good one was. Written into a run's
folder (`<run>/merged` by default), the merged model is recorded in its manifest: deleting the
run's files deletes it too.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from tuitune.errors import ExportError, TuituneError
from tuitune.export.weights import ADAPTER_CONFIG, adapter_config, run_weights
from tuitune.models.loading import model_load_error, resolve_model_path
from tuitune.runs import folder as run_folder
from tuitune.store import Run, Store, open_store
from tuitune.system.hub import local_files_only
from tuitune.system.paths import make_tree_private

# torch, transformers and peft are imported where the models load: importing tuitune.export stays
# light (see its docstring).

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")


def merge_adapter(
    adapter_dir: str | Path,
    output_dir: str | Path,
    *,
    base_model: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """Merge the adapter in `adapter_dir` into its base and save model + tokenizer to `output_dir`.

    `base_model` overrides the base named in the adapter's config (a Hub id, a local folder, or
    tuitune/demo). `dtype` is float32, float16 or bfloat16; None keeps the base checkpoint's own.
    """
    adapter_dir = Path(adapter_dir)
    output_dir = Path(output_dir)
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise ExportError(
            f"{adapter_dir} is not a LoRA adapter folder (no {ADAPTER_CONFIG}): give a run or an adapter folder."
        )
    if dtype is not None and dtype != "auto" and dtype not in DTYPES:
        raise ExportError(f"Unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
    base = base_model or adapter_config(adapter_dir).get("base_model_name_or_path")
    if not base:
        raise ExportError(f"The adapter in {adapter_dir} does not name its base model: pass --base-model ID.")
    _check_output(output_dir, adapter_dir)

    model = _load_merged(adapter_dir, base, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code)
    tokenizer = _load_tokenizer(adapter_dir, base, revision=revision, trust_remote_code=trust_remote_code)

    with run_folder.writing(output_dir):
        _save(model, tokenizer, output_dir)
    return output_dir


def _save(model: Any, tokenizer: Any, output_dir: Path) -> None:
    """Save into a staging folder beside `output_dir`, then put it in place of `output_dir`."""
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    except OSError as error:
        raise ExportError(f"Cannot write the merged model to {output_dir}: {error.strerror or error}.") from None
    try:
        model.save_pretrained(str(staging))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(staging))
        # Nothing in the folder may make loaders think it still needs peft.
        for leftover in (ADAPTER_CONFIG, "adapter_model.safetensors", "adapter_model.bin"):
            (staging / leftover).unlink(missing_ok=True)
        # transformers saves with the umask (0644 as a rule); the rest of a run's folder is private.
        make_tree_private(staging)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    except OSError as error:
        raise ExportError(f"Cannot write the merged model to {output_dir}: {error.strerror or error}.") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def merge_run(
    run: Run,
    output_dir: str | Path | None = None,
    *,
    dtype: str | None = None,
    base_model: str | None = None,
    store: Store | None = None,
) -> Path:
    """Merge a run's adapter into its base (default output: `<run folder>/merged`) and record the
    merged folder as an artifact of the run (kind "merged")."""
    store = store or open_store()
    weights = run_weights(run, action="merge")
    if not weights.is_adapter:
        raise ExportError(
            f"Run {run.id} ({run.name}) was fully fine-tuned: {weights.path} is already a standalone model, "
            "there is no adapter to merge."
        )
    model_settings = run.config.get("model", {})
    if dtype is None and model_settings.get("dtype") in DTYPES:
        dtype = model_settings["dtype"]
    base = base_model or model_settings.get("name_or_path") or run.model
    target = Path(output_dir) if output_dir is not None else Path(run.output_dir or ".") / "merged"
    merged = merge_adapter(
        weights.path,
        target,
        base_model=base,
        dtype=dtype,
        revision=model_settings.get("revision") if base_model is None else None,
        trust_remote_code=bool(model_settings.get("trust_remote_code", False)),
    )
    store.add_artifact(
        run.id,
        kind="merged",
        path=str(merged.resolve()),
        meta={"base_model": base, "dtype": dtype or "auto", "adapter": str(weights.path)},
    )
    store.add_event(run.id, f"merged the adapter into {base}: {merged}")
    return merged


def _check_output(output_dir: Path, adapter_dir: Path) -> None:
    """Refuse to write over the adapter itself or over a folder that is not a model."""
    if output_dir.resolve() == adapter_dir.resolve():
        raise ExportError("The output folder is the adapter folder: choose another folder for the merged model.")
    if output_dir.exists() and not output_dir.is_dir():
        raise ExportError(f"{output_dir} is a file: choose a folder for the merged model.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
        raise ExportError(f"{output_dir} is not empty and holds no model to replace: choose a new or empty folder.")


def _torch_dtype(dtype: str | None) -> Any:
    import torch

    if dtype is None or dtype == "auto":
        return "auto"
    return getattr(torch, dtype)


def _load_merged(
    adapter_dir: Path, base: str, *, dtype: str | None, revision: str | None, trust_remote_code: bool
) -> Any:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    try:
        path = resolve_model_path(base)
    except TuituneError as error:
        raise ExportError(f"Cannot load the base model to merge into. {error} Or pass --base-model.") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=_torch_dtype(dtype),
            revision=revision,
            trust_remote_code=trust_remote_code,
            local_files_only=local_files_only(),
        )
    except (OSError, ValueError, KeyError) as error:
        problem = model_load_error(base, error, revision=revision)
        raise ExportError(f"Cannot load the base model to merge into. {problem} Or pass --base-model.") from error
    if getattr(model, "is_quantized", False) or getattr(model.config, "quantization_config", None):
        raise ExportError(
            f"The base model {base!r} is a quantized checkpoint, so its weights cannot take a merge: "
            "pass --base-model with the full-precision original."
        )
    with warnings.catch_warnings():
        # peft calls a transformers API deprecated in v5; nothing a user can act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    merged = model.merge_and_unload()
    merged.eval()
    return merged


def _load_tokenizer(adapter_dir: Path, base: str, *, revision: str | None, trust_remote_code: bool) -> Any:
    """The tokenizer saved with the adapter (what training used), else the base's."""
    from transformers import AutoTokenizer

    for source, kwargs in (
        (str(adapter_dir), {}),
        (resolve_model_path(base), {"revision": revision, "trust_remote_code": trust_remote_code}),
    ):
        try:
            return AutoTokenizer.from_pretrained(source, **kwargs)
        except (OSError, ValueError):
            continue
    return None
