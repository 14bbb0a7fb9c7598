"""Upload an adapter or a model to the Hugging Face Hub, with a generated model card.

The token comes from the caller, `HF_TOKEN`, or the login cached by `hf auth login`, and is only
ever handed to huggingface_hub: it is not written to the card, the store, a log or a config, and
it is scrubbed from any error message.

Everything goes up in one commit (`create_commit` with one `CommitOperationAdd` per file, which is
what `upload_folder` does underneath), so the generated `README.md` replaces the one peft writes
into an adapter folder without touching the run's files on disk.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tuitune.errors import ExportError
from tuitune.export.merge import merge_adapter, merge_run
from tuitune.export.model_card import model_card
from tuitune.export.target import UploadTarget, card_info, resolve_target
from tuitune.runs.results import UploadResult
from tuitune.store import Run, Store, open_store
from tuitune.text.user_text import excerpt

# huggingface_hub is imported by the functions that talk to the Hub: importing tuitune.export stays
# light (see its docstring).

CARD = "README.md"
LOGIN_HINT = "run `hf auth login`, set HF_TOKEN, or pass --token"


def upload(
    target: Run | str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    message: str | None = None,
    merge_adapter: bool = False,
    base_model: str | None = None,
    dry_run: bool = False,
    gguf: bool = False,
    store: Store | None = None,
) -> UploadResult:
    """Upload a run's adapter (or model), or a folder, to `repo_id`, creating the repo if needed.

    `merge_adapter` uploads a standalone merged model instead of the adapter (merged first into
    the run's `merged/` folder, or a temporary folder for an adapter given by path); `base_model`
    overrides the base to merge into. `gguf` uploads the run's latest exported GGUF (and the
    Modelfile beside it) with a card that gives its round trip. `dry_run` builds the card and the file list and uploads
    nothing (it still merges when asked, so the list is exact). The repository URL is recorded as
    an artifact (kind "upload") of the run the upload came from.
    """
    store = store or open_store()
    check_repo_id(repo_id)
    if gguf and merge_adapter:
        raise ExportError("--gguf uploads the exported GGUF, which is merged already: drop --merge-adapter.")
    resolved = resolve_target(target, store)
    # Before any merge: a missing token should not cost a merge first.
    secret = None if dry_run else resolve_token(token)
    del token  # only `secret` is used from here, and only by the Hub client
    temporary: Path | None = None
    notes: list[str] = []
    try:
        gguf_files: list[str] | None = None
        gguf_meta: dict | None = None
        if gguf:
            resolved, gguf_files, gguf_meta = _exported(resolved, store)
        elif merge_adapter:
            if resolved.kind != "adapter":
                notes.append(f"{resolved.folder} is already a standalone model: uploaded as it is, nothing to merge.")
            else:
                resolved, temporary = _merged(resolved, base_model, store)
        files = gguf_files if gguf_files is not None else upload_files(resolved.folder)
        info = card_info(resolved, repo_id, store)
        info.gguf = gguf_meta
        card = model_card(info)
        result = UploadResult(
            repo_id=repo_id,
            kind=resolved.kind,
            folder=str(resolved.folder),
            files=sorted([*files, CARD]),
            card=card,
            dry_run=dry_run,
            private=private,
            run_id=resolved.run.id if resolved.run else None,
            notes=notes,
        )
        if dry_run:
            return result
        assert secret is not None
        url, commit_url = _push(
            resolved.folder, files, card, repo_id, token=secret, private=private, message=message, kind=resolved.kind
        )
        result.url, result.commit_url = url, commit_url
        if resolved.run is not None:
            store.add_artifact(
                resolved.run.id,
                kind="upload",
                path=url,
                meta={"repo_id": repo_id, "kind": resolved.kind, "private": private, "commit_url": commit_url},
            )
            store.add_event(resolved.run.id, f"uploaded the {resolved.kind} to {url}")
        return result
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def check_repo_id(repo_id: str) -> None:
    """Refuse a repository id the Hub would refuse, with its reason (huggingface_hub's own rule)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id or "")
    except HFValidationError as error:
        reason = str(error).split(":")[0].rstrip(".")
        raise ExportError(
            f"{excerpt(repo_id)} is not a valid repository id ({reason}): use `your-name/model-name` "
            "(letters, digits, '-', '_', '.')."
        ) from None


def resolve_token(token: str | None) -> str:
    """The token to push with: given, else HF_TOKEN, else the cached login; or a one-line error."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise ExportError(f"No Hugging Face token: {LOGIN_HINT}.")
    return token


def upload_files(folder: Path) -> list[str]:
    """Every file under `folder` as a repository path, except the card we replace and hidden files."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if relative.as_posix() == CARD:
            continue
        files.append(relative.as_posix())
    if not files:
        raise ExportError(f"{folder} holds no files to upload.")
    return files


def _exported(resolved: UploadTarget, store: Store) -> tuple[UploadTarget, list[str], dict]:
    """The run's latest exported GGUF (and its Modelfile), as the folder and files to upload."""
    run = resolved.run
    if run is None:
        raise ExportError("--gguf uploads a run's exported GGUF: give the run (its id or name), not a folder.")
    exported = [a for a in store.artifacts(run.id) if a.kind == "gguf" and Path(a.path).is_file()]
    if not exported:
        raise ExportError(
            f"Run {run.id} ({run.name}) has no exported GGUF: export it first (`tuitune export {run.id} --to ollama`)."
        )
    # The newest file, not the newest row: exporting a quantization again rewrites its row in place.
    latest = max(exported, key=lambda artifact: Path(artifact.path).stat().st_mtime_ns)
    path = Path(latest.path)
    files = [path.name]
    modelfile = path.parent / "Modelfile"
    if modelfile.is_file() and f"FROM ./{path.name}\n" in modelfile.read_text(encoding="utf-8"):
        files.append(modelfile.name)
    meta = {
        "file": path.name,
        "quant": latest.meta.get("quant"),
        "round_trip": latest.meta.get("round_trip"),
    }
    return UploadTarget(path.parent, "gguf", run, resolved.config, resolved.base_model), files, meta


def _merged(resolved: UploadTarget, base_model: str | None, store: Store) -> tuple[UploadTarget, Path | None]:
    """The merged model to upload instead of the adapter, and a temporary folder to remove after."""
    if resolved.run is not None:
        folder = merge_run(resolved.run, dtype=None, base_model=base_model, store=store)
        return UploadTarget(folder, "merged", resolved.run, resolved.config, base_model or resolved.base_model), None
    temporary = Path(tempfile.mkdtemp(prefix="tuitune-merge-"))
    folder = merge_adapter(resolved.folder, temporary / "merged", base_model=base_model or resolved.base_model)
    return UploadTarget(folder, "merged", None, resolved.config, base_model or resolved.base_model), temporary


def _push(
    folder: Path,
    files: list[str],
    card: str,
    repo_id: str,
    *,
    token: str,
    private: bool,
    message: str | None,
    kind: str,
) -> tuple[str, str | None]:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
        operations.append(CommitOperationAdd(path_in_repo=CARD, path_or_fileobj=card.encode("utf-8")))
        commit = api.create_commit(
            repo_id=repo.repo_id,
            operations=operations,
            commit_message=message or f"Upload {kind} trained with tuitune",
        )
    except Exception as error:
        raise hub_error(error, repo_id, token) from None
    return str(repo), getattr(commit, "commit_url", None)


def hub_error(error: BaseException, repo_id: str, token: str | None) -> ExportError:
    """One line for whatever the Hub client raised; the token never appears in it."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    def scrub(text: str) -> str:
        text = " ".join(text.split())
        return text.replace(token, "***") if token else text

    from huggingface_hub import constants

    if isinstance(error, OfflineModeIsEnabled):
        return ExportError(
            "Cannot upload: Hugging Face offline mode is on (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE and try again."
        )
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        server = scrub(getattr(error, "server_message", None) or "")
        detail = f" ({server[:200]})" if server else ""
        if status == 401:
            return ExportError(
                f"The Hugging Face Hub refused the token (401){detail}: {LOGIN_HINT} with a valid token."
            )
        if status == 403:
            return ExportError(
                f"The token may not write to {repo_id} (403){detail}: use a token with write access "
                "(https://huggingface.co/settings/tokens) and a repo in your namespace or organization."
            )
        if status == 409:
            return ExportError(f"The Hub refused to create {repo_id} (409){detail}: choose another repository id.")
        return ExportError(
            f"The Hugging Face Hub refused the upload ({status}){detail}: check {repo_id} and try again."
        )
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & {"ConnectionError", "TransportError", "TimeoutException", "NetworkError", "Timeout", "ConnectError"}:
        return ExportError(
            f"Cannot reach the Hugging Face Hub at {constants.ENDPOINT} ({type(error).__name__}): "
            "check the network connection (and HF_ENDPOINT or proxy settings), then try again."
        )
    first = scrub(str(error).strip().splitlines()[0] if str(error).strip() else "")
    return ExportError(f"Upload to {repo_id} failed: {type(error).__name__}: {first[:300]}")
