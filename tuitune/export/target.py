"""What `upload` sends: a run's adapter/model/merged folder or a folder given by path, and what
its model card can say about it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import DEMO_MODEL, load_config
from tuitune.errors import ExportError, RunNotFoundError
from tuitune.export.model_card import CardInfo
from tuitune.export.weights import ADAPTER_CONFIG, adapter_config, run_weights
from tuitune.models.demo import demo_model_path
from tuitune.runs import lookup
from tuitune.store import BASE, FINETUNED, Run, Store
from tuitune.text.user_text import path_problem, shorten

# huggingface_hub is imported where the Hub cache is read: importing tuitune.export stays light.


@dataclass
class UploadTarget:
    """A folder to upload, its kind ("adapter", "merged" or "model") and the run it came from, if any."""

    folder: Path
    kind: str
    run: Run | None = None
    config: dict[str, Any] | None = None  # the run's configuration, when known
    base_model: str | None = None


def folder_kind(folder: Path) -> str:
    """ "adapter" for a peft adapter folder, "model" for a transformers model folder."""
    if (folder / ADAPTER_CONFIG).is_file():
        return "adapter"
    if (folder / "config.json").is_file():
        return "model"
    raise ExportError(
        f"{folder} holds neither an adapter (adapter_config.json) nor a model (config.json): "
        "give a run, a run's adapter/ or merged/ folder, or a model folder."
    )


def run_or_folder(target: Run | str | Path, store: Store) -> Run | Path:
    """A folder that exists, else a run by id, name or `last` (checked for a dead worker)."""
    if isinstance(target, Run):
        return target
    problem = path_problem(str(target))
    if problem is not None:
        raise ExportError(
            f"{shorten(str(target))} is neither a run nor a folder ({problem}): give a run (id, name or last) or a folder."
        )
    path = Path(target).expanduser()
    if path.is_dir():
        return path

    try:
        return lookup.find(str(target), store=store)
    except RunNotFoundError:
        if isinstance(target, Path) or any(mark in str(target) for mark in ("/", "\\")) or path.exists():
            raise ExportError(
                f"{shorten(str(target))} is neither a folder nor a run: give a run (id, name or last) or a folder."
            ) from None
        raise


def resolve_target(target: Run | str | Path, store: Store) -> UploadTarget:
    """A run (object, id, name or `last`) or a folder: an adapter, a model, or a run's folder."""
    found = run_or_folder(target, store)
    if isinstance(found, Run):
        return _from_run(found)
    return _from_folder(found, store)


def _from_run(run: Run) -> UploadTarget:
    weights = run_weights(run, action="upload")
    model_settings = run.config.get("model", {})
    return UploadTarget(
        folder=weights.path,
        kind=weights.kind,
        run=run,
        config=run.config or None,
        base_model=model_settings.get("name_or_path") or run.model,
    )


def _from_folder(folder: Path, store: Store) -> UploadTarget:
    folder = folder.resolve()
    if not (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file():
        # A run's own folder: upload what it trained.
        owner = _run_with_output(folder, store)
        if owner is not None:
            return _from_run(owner)
        for child in ("adapter", "model"):
            if (folder / child).is_dir() and (folder / "config.yaml").is_file():
                folder = folder / child
                break
    kind = folder_kind(folder)
    run = _run_with_output(folder.parent, store)
    if kind == "model" and run is not None and folder.name == "merged":
        kind = "merged"
    config = run.config if run is not None else _config_beside(folder)
    base = None
    if kind == "adapter":
        base = adapter_config(folder).get("base_model_name_or_path")
    if config:
        base = config.get("model", {}).get("name_or_path") or base
    return UploadTarget(folder=folder, kind=kind, run=run, config=config or None, base_model=base)


def _run_with_output(folder: Path, store: Store) -> Run | None:
    """The run whose output folder is `folder`, if any (the newest, should two share it)."""
    target = str(folder.resolve())
    for run in store.list_runs():
        if run.output_dir and str(Path(run.output_dir).resolve()) == target:
            return run
    return None


def _config_beside(folder: Path) -> dict[str, Any] | None:
    """The `config.yaml` of the run folder `folder` sits in (a copied run folder has no store row)."""
    path = folder.parent / "config.yaml"
    if not path.is_file():
        return None
    try:
        return load_config(path).to_dict()
    except Exception:
        return None


def card_info(target: UploadTarget, repo_id: str, store: Store) -> CardInfo:
    """What the model card says: the run's config, final losses and latest evaluations."""
    config = target.config or {}
    info = CardInfo(
        repo_id=repo_id,
        kind=target.kind,
        base_model=target.base_model,
        method=config.get("method")
        or (target.run.method if target.run else None)
        or ("lora" if target.kind != "model" else None),
        dataset=config.get("data", {}).get("source") or (target.run.dataset if target.run else None),
        license=base_license(target.base_model, config.get("model", {}).get("revision")),
        run_name=target.run.name if target.run else None,
        config=config or None,
    )
    if target.kind == "adapter":
        targets = adapter_config(target.folder).get("target_modules")
        if isinstance(targets, (list, set, tuple)):
            info.lora_targets = sorted(targets)
    run = target.run
    if run is not None:
        info.results = {
            "train_loss": run.train_loss if run.train_loss is not None else run.last_loss,
            "eval_loss": run.last_eval_loss,
            "best_eval_loss": run.best_eval_loss,
            "steps": run.steps_done or None,
            "epochs": run.epoch,
            "duration_seconds": round(run.duration_seconds, 1) if run.duration_seconds else None,
            "tokens_per_second": round(run.tokens_per_second, 1) if run.tokens_per_second else None,
        }
        latest: dict[str, Any] = {}
        for evaluation in store.evaluations(run.id):  # newest first
            latest.setdefault(evaluation.label, evaluation)
        if FINETUNED in latest:
            finetuned = latest[FINETUNED]
            info.finetuned_scores = _numbers(finetuned.metrics)
            info.evaluation_settings = finetuned.settings
            info.sample_count = finetuned.sample_count
            # A base evaluation counts only if it was made on the same prompts.
            base = latest.get(BASE)
            if base is not None and base.settings == finetuned.settings:
                info.base_scores = _numbers(base.metrics)
    return info


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def base_license(base_model: str | None, revision: str | None = None) -> str | None:
    """The base model's license from its model card or config, when it is on this machine (never
    downloads: a local folder, or the Hub cache)."""
    if not base_model:
        return None
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.repocard import metadata_load

    candidates: list[Path] = []
    if base_model == DEMO_MODEL:
        candidates.append(demo_model_path())
    elif Path(base_model).expanduser().is_dir():
        candidates.append(Path(base_model).expanduser())
    else:
        for filename in ("README.md", "config.json"):
            try:
                cached = try_to_load_from_cache(base_model, filename, revision=revision)
            except Exception:
                cached = None
            if isinstance(cached, str):
                candidates.append(Path(cached))
    for candidate in candidates:
        readme = candidate / "README.md" if candidate.is_dir() else candidate
        config = candidate / "config.json" if candidate.is_dir() else candidate
        if readme.name == "README.md" and readme.is_file():
            try:
                license_ = (metadata_load(readme) or {}).get("license")
            except Exception:
                license_ = None
            if isinstance(license_, str) and license_:
                return license_
        if config.name == "config.json" and config.is_file():
            try:
                license_ = json.loads(config.read_text(encoding="utf-8")).get("license")
            except (OSError, ValueError):
                license_ = None
            if isinstance(license_, str) and license_:
                return license_
    return None
