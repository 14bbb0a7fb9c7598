"""`tuitune rerun RUN`: a new run with a past run's configuration, queued (or started now), with
warnings where its data, the training stack or the git commit have changed since.

The new run gets its own name (`<name>-rerun`) and its own folder under the same output rules as
`train`; it never writes into the old run's folder. Light: no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tuitune.config import RunConfig, parse_config
from tuitune.engine import launcher, queue
from tuitune.errors import RunStateError
from tuitune.runs import lineage, lookup
from tuitune.store import Run, Store, open_store

RERUN_SUFFIX = "-rerun"
# `demo-full-rerun-2` reruns as `demo-full-rerun` (the store numbers it), not `…-rerun-2-rerun`.
_RERUN_NAME = re.compile(rf"{re.escape(RERUN_SUFFIX)}(-\d+)?$")


@dataclass
class Rerun:
    """The new run, the run it repeats, and what has changed since that one was created."""

    run: Run
    rerun_of: Run
    warnings: list[str] = field(default_factory=list)


def rerun_config(run: Run) -> RunConfig:
    """The configuration `run` trained with, named for its rerun; refused when none was stored."""
    if not run.config:
        raise RunStateError(
            f"Run {run.id} ({run.name}) has no stored configuration to rerun: train it again with "
            "`tuitune train --config FILE`."
        )
    config = parse_config(run.config, f"run {run.id}'s stored configuration")
    config.name = _RERUN_NAME.sub("", run.name) + RERUN_SUFFIX
    return config


def rerun(run: Run | int | str, *, now: bool = False, store: Store | None = None) -> Rerun:
    """Queue a new run with `run`'s configuration (`now`: start it at once, whatever the queue holds).
    `run`: a run, or its id, name or `last`; `tuitune.rerun(3)` in Python.

    The warnings (the data, versions or git commit changed since `run` was created) are also
    written as warning events on the new run. The data is not read here: the CLI checks it first
    (`engine.preflight.check_sources`), and the worker checks it as it does every run's.
    """
    store = store or open_store()
    if not isinstance(run, Run):
        run = lookup.find(str(run), store=store)
    config = rerun_config(run)
    label = f"run {run.id}"
    warnings = lineage.changes_since(
        run.lineage, lineage.collect(launcher.with_local_paths(config).to_dict(), dirty=True), label
    )
    gpus = launcher.store_gpus(run) or None
    extra = {"rerun_of": run.id}
    if now:
        new = launcher.launch(config, gpus=gpus, store=store, lineage=extra)
    else:
        new = queue.enqueue(config, gpus=gpus, store=store, lineage=extra)
    store.add_event(new.id, f"a rerun of run {run.id} ({run.name}), with its configuration")
    for warning in warnings:
        store.add_event(new.id, warning, level="warning")
    return Rerun(run=store.get_run(new.id), rerun_of=run, warnings=warnings)


__all__ = ["RERUN_SUFFIX", "Rerun", "rerun", "rerun_config"]
