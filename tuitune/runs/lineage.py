"""Where a run came from: its data's fingerprint, its model's revision or weights hash, the versions
of the training stack and the git commit of the folder it was started from.

Recorded with every run (`Run.lineage`, a JSON document): the cheap parts when the run is created
(`collect`, in the launcher: the folder the user typed the command in, the data as it is then; no
child process), the model's part and git's dirty flag by the worker once the model is resolved
(`record_worker_lineage`: the demo model is built on first use). Compared in words: `differences` for `tuitune compare`, `changes_since` for `tuitune
rerun`. Never fails a run: whatever cannot be read is recorded as unknown.

Light: the standard library only (huggingface_hub inside the functions that ask the Hub or its cache).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASETS, sample_file
from tuitune.locations import DATASET_BUILDERS
from tuitune.store import Store
from tuitune.system.hub import local_files_only

# A file up to this size is hashed whole (sha256 reads ~1 GB/s: a quarter of a second at most);
# a bigger data file is known by its size and mtime only, and a bigger weights file by its size
# and a hash of its first and last MiB (`SAMPLE_BYTES`).
HASH_LIMIT_BYTES = 256 * 1024 * 1024
SAMPLE_BYTES = 1024 * 1024
# A dataset folder with more files than this is fingerprinted by its first ones, sorted by name.
MAX_FOLDER_FILES = 1000
# The files that hold a model's weights (what a weights hash covers).
WEIGHTS_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# The packages whose versions change what a run learns; python and tuitune itself come too.
PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "bitsandbytes",
    "datasets",
    "tuitune",
)
# git answers a local question in milliseconds; a hung network file system must not hold a launch.
GIT_TIMEOUT_SECONDS = 3.0
# How a hash is shown in words: its first characters.
SHORT_HASH = 12


# --- fingerprints --------------------------------------------------------------------------


def _moment(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _sha256(path: Path, *, sampled: bool = False) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if not sampled:
            for block in iter(lambda: handle.read(SAMPLE_BYTES), b""):
                digest.update(block)
            return digest.hexdigest()
        size = os.fstat(handle.fileno()).st_size
        digest.update(handle.read(SAMPLE_BYTES))
        handle.seek(max(0, size - SAMPLE_BYTES))
        digest.update(handle.read(SAMPLE_BYTES))
        return digest.hexdigest()


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """A data file: path, size, mtime and the sha256 of its content when it is at most
    `HASH_LIMIT_BYTES` ("hashed": false and "sha256": null above it)."""
    file = Path(path)
    entry: dict[str, Any] = {"kind": "file", "path": str(file), "name": file.name}
    try:
        stat = file.stat()
    except OSError as error:
        return {**entry, "missing": True, "reason": error.strerror or str(error)}
    hashed = stat.st_size <= HASH_LIMIT_BYTES
    try:
        sha = _sha256(file) if hashed else None
    except OSError:
        sha, hashed = None, False
    return {**entry, "size": stat.st_size, "mtime": _moment(stat.st_mtime), "sha256": sha, "hashed": hashed}


def _listing(folder: Path, suffixes: Sequence[str] | None) -> list[Path]:
    found = sorted(
        entry
        for entry in folder.rglob("*")
        if entry.is_file() and not entry.name.startswith(".") and (suffixes is None or entry.suffix in suffixes)
    )
    return found[:MAX_FOLDER_FILES]


def folder_fingerprint(path: str | Path, *, weights: bool = False) -> dict[str, Any]:
    """A dataset folder (every file) or a model folder (`weights`: its weights files only): one
    sha256 over each file's name, size and content hash.

    Files are read whole up to `HASH_LIMIT_BYTES` in all; past it, a file counts by its first and last
    MiB ("hash": "sampled"), and for data also by its mtime; "hash": "full" when every byte was read.
    """
    folder = Path(path)
    entry: dict[str, Any] = {"kind": "folder", "path": str(folder), "name": folder.name}
    try:
        files = _listing(folder, WEIGHTS_SUFFIXES if weights else None)
    except OSError as error:
        return {**entry, "missing": True, "reason": error.strerror or str(error)}
    combined = hashlib.sha256()
    total, read, sampled = 0, 0, False
    for file in files:
        try:
            stat = file.stat()
            # The limit holds for the whole folder: fifty 200 MB shards are not read whole either.
            big = read + stat.st_size > HASH_LIMIT_BYTES
            sha = _sha256(file, sampled=big)
        except OSError:
            continue
        sampled = sampled or big
        read += 0 if big else stat.st_size
        total += stat.st_size
        # A copied model keeps its bytes but not its mtimes: the weights hash leaves mtimes out.
        when = _moment(stat.st_mtime) if big and not weights else ""
        combined.update(f"{file.relative_to(folder).as_posix()}\t{stat.st_size}\t{sha}\t{when}\n".encode())
    return {
        **entry,
        "files": len(files),
        "size": total,
        "sha256": combined.hexdigest() if files else None,
        "hash": "sampled" if sampled else "full",
    }


def hub_revision(repo_id: str, revision: str | None, *, dataset: bool) -> dict[str, Any]:
    """A Hub repository: the commit it resolves to, from the local cache (a model) or the Hub when it
    is reachable (a dataset); else the revision the config names, or None."""
    entry: dict[str, Any] = {"kind": "hub", "id": repo_id, "revision": revision, "resolved": False}
    try:
        commit = _hub_dataset_commit(repo_id, revision) if dataset else _cached_model_commit(repo_id, revision)
    except Exception:  # offline, unknown, a broken cache: the id and the asked-for revision are what is known
        commit = None
    return {**entry, "revision": commit, "resolved": True} if commit else entry


def _hub_dataset_commit(repo_id: str, revision: str | None) -> str | None:
    if local_files_only():
        return None
    from huggingface_hub import dataset_info

    return dataset_info(repo_id, revision=revision, timeout=5.0).sha


def _cached_model_commit(repo_id: str, revision: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if not isinstance(found, str):
        return None
    parts = Path(found).parts  # …/models--org--name/snapshots/<commit>/config.json
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else None


def versions() -> dict[str, str | None]:
    """python's and the training stack's versions (None: not installed); nothing is imported."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def git_state(folder: str | Path | None = None, *, dirty: bool = False) -> dict[str, Any] | None:
    """The commit of the git repository `folder` (the current one) is in, None outside one.

    The commit is read from the repository's files, not from a git process: a run is created from
    every face (the app's process too) many times a day, and a child process for it would be the
    slowest part of creating one. `dirty`: also ask `git status` whether the work tree has changes
    (else "dirty" is None); the worker asks, once the run starts (`record_worker_lineage`).
    """
    where = Path(folder) if folder is not None else Path.cwd()
    try:
        found = _repository(where.resolve())
        if found is None:
            return None
        top, gitdir = found
        commit = _head_commit(gitdir)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if commit is None:
        return None  # a repository with no commit yet
    state: dict[str, Any] = {"commit": commit, "dirty": None, "folder": str(top)}
    if dirty:
        state["dirty"] = _work_tree_dirty(top)
    return state


def _repository(start: Path) -> tuple[Path, Path] | None:
    """(work tree, git folder) of the repository `start` is in; a worktree's `.git` file points to it."""
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return folder, dot
        if dot.is_file():
            text = dot.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                gitdir = Path(text.removeprefix("gitdir:").strip())
                return folder, gitdir if gitdir.is_absolute() else folder / gitdir
    return None


def _head_commit(gitdir: Path) -> str | None:
    head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return head if re.fullmatch(r"[0-9a-f]{40,64}", head) else None  # a detached HEAD
    ref = head.removeprefix("ref:").strip()
    common = gitdir
    if (gitdir / "commondir").is_file():  # a linked worktree keeps its branches in the main repository
        common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (gitdir, common):
        if (base / ref).is_file():
            return (base / ref).read_text(encoding="utf-8").strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            if line.endswith(f" {ref}") and not line.startswith(("#", "^")):
                return line.split()[0]
    return None


def _work_tree_dirty(top: Path) -> bool | None:
    """Whether tracked files have changes (`git status`); None when git is missing or slow."""
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=top,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(status.stdout.strip())


# --- a run's lineage -----------------------------------------------------------------------


def data_fingerprints(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The fingerprints of what a config's `data` section reads: its source and its data_files."""
    source = str(data.get("source") or "")
    if source in SAMPLE_DATASETS:
        # Bundled: made from one file that ships with tuitune (its version says the rest).
        return [{**file_fingerprint(sample_file()), "bundled": source}]
    files = data.get("data_files") or []
    named = [files] if isinstance(files, str) else list(files)
    if source in DATASET_BUILDERS:
        return [file_fingerprint(Path(name).expanduser()) for name in named]
    local = Path(source).expanduser()
    if local.is_file():
        return [file_fingerprint(local)]
    if local.is_dir():
        if named:
            return [file_fingerprint(local / name) for name in named]
        return [folder_fingerprint(local)]
    return [hub_revision(source, None, dataset=True)]


def collect(config: dict[str, Any], *, folder: str | Path | None = None, dirty: bool = False) -> dict[str, Any]:
    """What a run about to be created trains on and with: the data as it is now, the versions
    installed, the git commit of `folder` (the current folder; `dirty`: and whether it has changes).
    The model's part and the dirty flag come when it starts (`record_worker_lineage`)."""
    return {
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "folder": str(Path(folder) if folder is not None else Path.cwd()),
        "data": data_fingerprints(config.get("data") or {}),
        "versions": versions(),
        "git": git_state(folder, dirty=dirty),
    }


def model_fingerprint(name_or_path: str, resolved: str, revision: str | None) -> dict[str, Any]:
    """The model a run loaded: a folder's weights hash (the demo model's too), a Hub id's commit."""
    folder = Path(resolved)
    if folder.is_dir():
        return {**folder_fingerprint(folder, weights=True), "model": name_or_path, "demo": name_or_path == DEMO_MODEL}
    return {**hub_revision(name_or_path, revision, dataset=False), "model": name_or_path}


def record_worker_lineage(store: Store, run_id: int, name_or_path: str, resolved: str, revision: str | None) -> None:
    """Add what the worker knows to a run's lineage once the model is resolved: the model's
    fingerprint, and whether the recorded git commit's work tree had changes (asked of git here,
    in the run's own process, while it is still on that commit)."""
    if getattr(store, "quiet", False):
        return  # a rank of a group that does not write the run's record: rank 0 hashes it once
    lineage = dict(store.get_run(run_id).lineage)
    lineage["model"] = model_fingerprint(name_or_path, resolved, revision)
    git = lineage.get("git")
    if isinstance(git, dict) and git.get("dirty") is None and git.get("folder"):
        now = git_state(git["folder"], dirty=True)
        if now is not None and now["commit"] == git.get("commit"):
            lineage["git"] = {**git, "dirty": now["dirty"]}
    store.update_run(run_id, lineage=lineage)


# --- in words ------------------------------------------------------------------------------


def short(sha: str | None) -> str:
    return f"{sha[:SHORT_HASH]}…" if sha else "–"


def size_words(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover: the loop always returns


def data_words(entry: dict[str, Any]) -> str:
    """`sha256 ab12cd34ef56…, 2.1 MB, modified 2026-12-01`: one version of a data source."""
    if entry.get("missing"):
        return "missing"
    if entry.get("kind") == "hub":
        return f"revision {entry['revision'][:SHORT_HASH]}" if entry.get("revision") else "revision unknown"
    hashed = f"sha256 {short(entry.get('sha256'))}" if entry.get("sha256") else "not hashed (too big)"
    modified = str(entry.get("mtime") or "")[:10]
    return ", ".join(part for part in (hashed, size_words(entry.get("size")), modified and f"modified {modified}"))


def _identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What tells two versions of one data source apart."""
    if entry.get("missing"):
        return ("missing",)
    if entry.get("kind") == "hub":
        return ("hub", entry.get("revision"))
    if entry.get("sha256"):
        return ("sha256", entry["sha256"])
    return ("stat", entry.get("size"), entry.get("mtime"))


def _key(entry: dict[str, Any]) -> str:
    return str(entry.get("id") or entry.get("bundled") or entry.get("path") or entry.get("name"))


def _label(entry: dict[str, Any]) -> str:
    return str(entry.get("bundled") or entry.get("id") or entry.get("name") or entry.get("path"))


def _by_key(lineage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {_key(entry): entry for entry in lineage.get("data") or [] if isinstance(entry, dict)}


def _git_differs(states: Sequence[dict[str, Any] | None]) -> bool:
    """Other commits, or the same with and without changes (where both are known)."""
    commits = {(git or {}).get("commit") for git in states}
    dirty = {git["dirty"] for git in states if git and git.get("dirty") is not None}
    return len(commits) > 1 or len(dirty) > 1


def _git_words(git: dict[str, Any] | None) -> str:
    if not git:
        return "not a git repository"
    return f"{str(git.get('commit'))[:7]}{' (dirty)' if git.get('dirty') else ''}"


def _model_words(model: dict[str, Any]) -> str:
    if model.get("kind") == "hub":
        return f"revision {str(model['revision'])[:SHORT_HASH]}" if model.get("revision") else "revision unknown"
    return f"weights sha256 {short(model.get('sha256'))}"


def _model_identity(model: dict[str, Any]) -> tuple[Any, ...]:
    return (model.get("kind"), model.get("revision") if model.get("kind") == "hub" else model.get("sha256"))


def _values(pairs: Sequence[tuple[str, str]]) -> str:
    """`5.24.0 vs 5.25.0` for two runs; `run 3: …; run 5: …; run 7: …` for more."""
    if len(pairs) == 2:
        return f"{pairs[0][1]} vs {pairs[1][1]}"
    return "; ".join(f"{label}: {value}" for label, value in pairs)


def differences(runs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """The lineage differences between runs, in words, e.g. "these runs trained on different
    versions of train.jsonl (run 3: sha256 ab12…, 2.1 MB, modified 2026-12-01; run 5: …)".

    `runs` are (label, lineage) pairs ("run 3", its lineage). Runs with no lineage (from before
    tuitune recorded it) are left out and said so; a data source only some runs read is a setting
    that differs, shown with the settings.
    """
    known = [(label, lineage) for label, lineage in runs if lineage]
    found: list[str] = []
    if len(known) < len(runs) and known:
        missing = ", ".join(label for label, lineage in runs if not lineage)
        found.append(f"no lineage recorded for {missing} (trained before tuitune recorded it)")
    if len(known) < 2:
        return found
    found += _data_differences(known)
    found += _version_differences(known)
    gits = [(label, lineage.get("git")) for label, lineage in known]
    if _git_differs([git for _, git in gits]):
        found.append(f"git commit {_values([(label, _git_words(git)) for label, git in gits])}")
    models = [(label, lineage["model"]) for label, lineage in known if isinstance(lineage.get("model"), dict)]
    if len(models) > 1 and len({_model_identity(model) for _, model in models}) > 1:
        found.append(
            f"model weights differ ({'; '.join(f'{label}: {_model_words(model)}' for label, model in models)})"
        )
    return found


def _data_differences(known: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    found = []
    tables = [(label, _by_key(lineage)) for label, lineage in known]
    keys: list[str] = []
    for _, table in tables:
        keys += [key for key in table if key not in keys]
    for key in keys:
        having = [(label, table[key]) for label, table in tables if key in table]
        if len(having) > 1 and len({_identity(entry) for _, entry in having}) > 1:
            versions_seen = "; ".join(f"{label}: {data_words(entry)}" for label, entry in having)
            found.append(f"these runs trained on different versions of {_label(having[0][1])} ({versions_seen})")
    return found


def _version_differences(known: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    found = []
    names: list[str] = []
    for _, lineage in known:
        names += [name for name in lineage.get("versions") or {} if name not in names]
    for name in names:
        values = [
            (label, str((lineage.get("versions") or {}).get(name) or "not installed")) for label, lineage in known
        ]
        if len({value for _, value in values}) > 1:
            found.append(f"{name} {_values(values)}")
    return found


def changes_since(old: dict[str, Any], now: dict[str, Any], label: str) -> list[str]:
    """What has changed since a run (`label`, "run 3") was created, in words, for a rerun's warnings:
    "train.jsonl has changed since run 3 trained on it (sha256 ab12… → cd34…)"."""
    if not old:
        return [f"{label} has no lineage recorded (it trained before tuitune recorded it): changes cannot be checked"]
    found = []
    current = _by_key(now)
    for key, entry in _by_key(old).items():
        name = _label(entry)
        later = current.get(key)
        if later is None:
            continue  # the config reads the same sources, so only a different folder gets here
        if later.get("missing"):
            found.append(f"{name} is gone since {label} trained on it ({entry.get('path')})")
        elif _identity(entry) != _identity(later):
            found.append(f"{name} has changed since {label} trained on it ({_change(entry, later)})")
    old_versions, new_versions = old.get("versions") or {}, now.get("versions") or {}
    for package in _names(old_versions, new_versions):
        before, after = old_versions.get(package), new_versions.get(package)
        if before != after:
            found.append(f"{package} {before or 'not installed'} → {after or 'not installed'} since {label}")
    before_git, after_git = old.get("git"), now.get("git")
    if before_git and after_git and _git_differs([before_git, after_git]):
        found.append(f"git commit {_git_words(before_git)} → {_git_words(after_git)} since {label}")
    return found


def _names(*tables: dict[str, Any]) -> Iterable[str]:
    seen: list[str] = []
    for table in tables:
        seen += [name for name in table if name not in seen]
    return seen


def _change(before: dict[str, Any], after: dict[str, Any]) -> str:
    if before.get("kind") == "hub":
        return f"revision {before.get('revision') or 'unknown'} → {after.get('revision') or 'unknown'}"
    if before.get("sha256") and after.get("sha256"):
        return f"sha256 {short(before['sha256'])} → {short(after['sha256'])}"
    return f"{data_words(before)} → {data_words(after)}"


def brief(lineage: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, words) lines for `tuitune show`: the data's hash, the model's, the versions, git."""
    if not lineage:
        return []
    lines = [(f"data {_label(entry)}", data_words(entry)) for entry in lineage.get("data") or []]
    if isinstance(lineage.get("model"), dict):
        lines.append(("model", _model_words(lineage["model"])))
    stack = lineage.get("versions") or {}
    lines.append(("versions", ", ".join(f"{name} {value}" for name, value in stack.items() if value)))
    lines.append(("git", _git_words(lineage.get("git"))))
    if lineage.get("rerun_of"):
        lines.append(("rerun of", f"run {lineage['rerun_of']}"))
    return lines
