"""A run's process group as the training screen and the run detail show it: how many processes,
which strategy, each rank's device, step and memory, and a rank that stopped heartbeating."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.table import Table
from rich.text import Text

from tuitune.runs import present
from tuitune.store import Run
from tuitune.store.processes import RunProcess


def stale_after_seconds() -> float:
    """The supervisor's own limit: a rank silent this long is stuck (and stops the group)."""
    # Imported here: engine.group brings the config models and yaml, which the training screen
    # and the run detail otherwise do without.
    from tuitune.engine.group import RANK_STALE_SECONDS

    return RANK_STALE_SECONDS


def silent_ranks(run: Run, processes: list[RunProcess], now: datetime | None = None) -> list[tuple[RunProcess, float]]:
    """(rank, seconds since its heartbeat) of each rank of a live run that stopped heartbeating."""
    if not run.is_active:
        return []
    now = now or datetime.now(timezone.utc)
    limit = stale_after_seconds()
    ages = [(process, (now - process.heartbeat_at).total_seconds()) for process in processes]
    return [(process, age) for process, age in ages if age > limit]


def group_summary(run: Run, processes: list[RunProcess], now: datetime | None = None) -> Text:
    """`4 processes · ddp · 1 machine · all heartbeating`, or which rank went silent."""
    group = present.process_group(run)
    size, strategy = group if group else (max(1, len(processes)), "ddp")
    machines = int((run.config.get("distributed") or {}).get("nnodes") or 1)
    text = Text(
        f"{size:,} process{'' if size == 1 else 'es'} · {strategy} · {present.plural(machines, 'machine')}",
        style="bold",
    )
    if not processes:
        if run.is_active:
            text.append(" · starting: no rank has reported yet", style="dim")
        return text
    silent = silent_ranks(run, processes, now)
    if silent:
        for process, age in silent:
            text.append(f" · rank {process.rank} stopped heartbeating {present.duration(age)} ago", style="bold red")
    elif run.is_active:
        text.append(
            f" · {len(processes)} of {size} heartbeating", style="green" if len(processes) >= size else "yellow"
        )
    else:
        text.append(" · the group has ended", style="dim")
    return text


def group_table(run: Run, processes: list[RunProcess], now: datetime | None = None) -> Table:
    """One line per rank: device, host and pid, step, memory, last heartbeat."""
    now = now or datetime.now(timezone.utc)
    silent = {process.rank for process, _ in silent_ranks(run, processes, now)}
    table = Table.grid(padding=(0, 1))
    # At 80 columns the host gives way first; rank, device, step and heartbeat are read whole.
    for name in ("rank", "device", "host", "step", "memory", "beat"):
        table.add_column(no_wrap=True, overflow="ellipsis", min_width=None if name in ("host", "memory") else len(name))
    for process in processes:
        age = (now - process.heartbeat_at).total_seconds()
        beat = (
            f"beat {present.duration(age)} ago"
            if run.is_active
            else f"last beat {present.clock_time(process.heartbeat_at)}"
        )
        style = "bold red" if process.rank in silent else ""
        table.add_row(
            Text(f"rank {process.rank}", style=style or "bold"),
            Text(process.device or "cpu"),
            Text(f"{process.host}:{process.pid}", style="dim"),
            Text(f"step {process.step:,}"),
            Text(_memory(process)),
            Text(beat, style=style or "dim"),
        )
    return table


def _memory(process: RunProcess) -> str:
    parts = []
    if process.gpu_memory_gb is not None:
        parts.append(f"GPU {process.gpu_memory_gb:.1f} GB")
    if process.cpu_memory_gb is not None:
        parts.append(f"RAM {process.cpu_memory_gb:.1f} GB")
    return " ".join(parts) or "–"
