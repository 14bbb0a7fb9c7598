"""What a request may make the server do: read and write only under its data roots, reach the
Hugging Face Hub only when started to, connect nowhere else, and run no code a request names.

The checks walk the run configuration (`tuitune.locations`): every field that names a place is
declared with a type that says what kind, so a field added later is checked the day it exists.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import Request

from tuitune.bundled import SAMPLE_DATASETS
from tuitune.config import DEMO_MODEL, RunConfig, parse_config
from tuitune.errors import UsageError
from tuitune.locations import DATASET_BUILDERS, Named, Names, code_switches, named_locations
from tuitune.serve.settings import ServeSettings, is_loopback
from tuitune.text.user_text import path_problem, shorten


class RequestRefusedError(UsageError):
    """A request asks for something this server was not started to allow; `field` names the
    dotted configuration key at fault, where there is one (a form shows the refusal beside it)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Policy:
    """What this server allows requests beyond its data roots."""

    roots: tuple[Path, ...]
    allow_hub: bool = False
    hub_ids: frozenset[str] = frozenset()
    allow_remote_code: bool = False

    def hub_allowed(self, repo_id: str) -> bool:
        return self.allow_hub or repo_id in self.hub_ids


def policy_of(request: Request) -> Policy:
    """The policy of the server that received `request`."""
    settings: ServeSettings = request.app.state.settings
    return Policy(
        roots=settings.roots(),
        allow_hub=settings.allow_hub,
        hub_ids=frozenset(settings.hub_ids),
        allow_remote_code=settings.allow_remote_code,
    )


def looks_local(text: str) -> bool:
    """Whether `text` names a place on this machine rather than a Hub id (`owner/name`)."""
    if text == DEMO_MODEL or text in SAMPLE_DATASETS:
        return False
    if text.startswith(("/", ".", "~")) or text.count("/") > 1 or "\\" in text:
        return True
    return path_problem(text) is None and Path(text).expanduser().exists()


def check_inside(text: str, roots: tuple[Path, ...], what: str, *, always_local: bool = False) -> None:
    """Refuse `text` unless it is not a local path at all, or it lies under one of `roots`
    (symbolic links followed: a link inside a root to a file outside is outside)."""
    if not always_local and not looks_local(text):
        return
    problem = path_problem(text)
    if problem is not None:
        raise UsageError(f"{what} {shorten(text)} is not a usable path ({problem}).")
    _refuse_outside(Path(text).expanduser().resolve(), text, roots, what)


def _refuse_outside(resolved: Path, text: str, roots: tuple[Path, ...], what: str) -> None:
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise RequestRefusedError(
            f"{what} {shorten(text)} is outside the folders this server may use ({allowed}): "
            "put it there, or start the server with --data-root."
        )


def check_config(config: RunConfig, policy: Policy) -> None:
    """Refuse a run configuration that names a place or runs code the server does not allow."""
    for key, what in code_switches(config):
        if not policy.allow_remote_code:
            raise RequestRefusedError(
                f"{key} would run {what} on this server, which was not started to allow that: "
                "start it with --allow-remote-code if every client is trusted, or leave it out.",
                field=key,
            )
    source = config.data.source
    for named in named_locations(config):
        try:
            _check(named, policy, dataset_source=source)
        except UsageError as refused:
            raise RequestRefusedError(str(refused), field=named.key) from None


def checked_config(request: Request, data: Any, source: str = "request") -> RunConfig:
    """A request's run configuration as every route takes one: validated as the CLI validates a
    config file, then refused if it names a place or runs code this server does not allow."""
    config = parse_config(data, source)
    check_config(config, policy_of(request))
    return config


def check_stored_run(config: RunConfig, policy: Policy, *, run_id: int, action: str) -> None:
    """Refuse to `action` a stored run whose configuration runs code (a reward file, a model's own
    Python files), unless the server allows code: the request names the run, and through it the
    code, which whoever created the run trusted, not necessarily whoever holds this server's token."""
    if policy.allow_remote_code:
        return
    for key, what in code_switches(config):
        raise RequestRefusedError(
            f"Run {run_id}'s {key} runs {what}, and this server was not started to allow that: "
            f"{action} it from the CLI on this machine, or start the server with --allow-remote-code "
            "if every client is trusted."
        )


def _check(named: Named, policy: Policy, *, dataset_source: str) -> None:
    text, what = named.value, f"{named.key}:"
    if named.names is Names.LOCAL_PATH:
        check_inside(text, policy.roots, what, always_local=True)
    elif named.names in (Names.MODEL, Names.DATASET):
        if named.names is Names.DATASET and text in DATASET_BUILDERS:
            return  # the files it reads are data.data_files, checked on their own
        if looks_local(text):
            check_inside(text, policy.roots, what, always_local=True)
        elif text != DEMO_MODEL and text not in SAMPLE_DATASETS:  # tuitune's own names, built here
            _check_hub_id(text, policy, what)
    elif named.names is Names.DATASET_FILES:
        _check_dataset_files(text, policy, what, dataset_source)
    elif named.names is Names.ADDRESS:
        if not is_loopback(text):
            raise RequestRefusedError(
                f"{what} {shorten(text)} is another machine: a run started through this server may only connect "
                "to this machine (start a run that spans machines from the CLI on each of them)."
            )
    elif named.names is Names.WEBHOOK:
        # A request must not make this machine send to a URL it names (inside a firewall, say).
        # The owner of the machine sets where runs report, with the CLI, on the machine.
        raise RequestRefusedError(
            f"{what} a run started through this server may not send to a URL the request names: set the "
            "store-wide default on the server's machine (tuitune notify set URL), or leave notify.webhook out."
        )
    else:  # a kind added to tuitune.locations must say here how it is checked
        raise RequestRefusedError(f"{what} names {named.names.value}, which this server cannot check yet.")


def _check_hub_id(repo_id: str, policy: Policy, what: str) -> None:
    if not policy.hub_allowed(repo_id):
        raise RequestRefusedError(
            f"{what} {shorten(repo_id)} is a Hugging Face Hub id, and this server was not started to reach the Hub: "
            "start it with --allow-hub (or --hub-id for this one), or put a local copy under its data roots."
        )


def _check_dataset_files(text: str, policy: Policy, what: str, source: str) -> None:
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise RequestRefusedError(f"{what} {shorten(text)} climbs out of its folder (..): name the files inside it.")
    if source in DATASET_BUILDERS:
        base = Path.cwd()  # where `launcher.with_local_paths` makes them absolute from
    elif looks_local(source):
        base = Path(source).expanduser()
    else:
        # Files inside a Hub dataset: paths in the repository, never on this machine.
        if text.startswith(("/", "~")):
            raise RequestRefusedError(
                f"{what} {shorten(text)} is a path on this machine, but the dataset is on the Hub: name files "
                "inside the dataset's repository."
            )
        return
    problem = path_problem(text)
    if problem is not None:
        raise UsageError(f"{what} {shorten(text)} is not a usable path ({problem}).")
    pattern = base / Path(text).expanduser()
    # A pattern is checked by what it matches today as well as by where it points (a `*` could
    # step through a link inside a root to a folder outside).
    _refuse_outside(pattern.resolve(), text, policy.roots, what)
    for count, match in enumerate(_matches(pattern), start=1):
        if count > MAX_MATCHES:
            raise RequestRefusedError(
                f"{what} {shorten(text)} matches over {MAX_MATCHES:,} files: name the data files more narrowly."
            )
        _refuse_outside(match.resolve(), text, policy.roots, what)


MAX_MATCHES = 10_000


def _matches(pattern: Path) -> Iterator[Path]:
    text = str(pattern)
    if glob.has_magic(text):
        yield from (Path(match) for match in glob.iglob(text, recursive=True))
