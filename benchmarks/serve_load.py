"""`tuitune serve` under load: 50 live-stream clients and a GET /runs loop while a run trains.

A real server on a loopback port (its own process), a real demo run training for the whole
measurement, then cancelled. Two phases with the same GET /runs loop:

  idle    no stream clients, `--idle-seconds` (the baseline)
  loaded  `--clients` clients each following the run's SSE stream, `--seconds`

Reported: errors (must be 0); missed events (at the end each client must hold every metric
point and event id the store has for the run: no gap, nothing twice); GET /runs latency p50/p99;
the server process's CPU share (psutil: user+system time / wall time, 1.00 = one core).

    .venv/bin/python benchmarks/serve_load.py [--clients 50] [--seconds 30] [--idle-seconds 10]

Runs in a temporary TUITUNE_HOME on 127.0.0.1 only; your own store is never touched. Exits 1
when any error or missed event is seen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

MAX_CLIENTS = 500
MAX_SECONDS = 300


@dataclass
class Watcher:
    points: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    ended: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_share: float = 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


def start_server(home: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tuitune", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TUITUNE_HOME": str(home), "HF_HUB_OFFLINE": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if found:
            # Keep reading what it prints, so a full pipe never blocks it.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, found.group(1)
    raise SystemExit(f"the server did not start: {process.stdout.read()[-2000:]}")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def poll_runs(client: httpx.AsyncClient, seconds: float, phase: Phase, server: psutil.Process) -> None:
    """GET /runs back to back for `seconds`, timing each; the server's CPU over the same window."""
    cpu_before, wall_before = cpu_seconds(server), time.monotonic()
    deadline = wall_before + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = await client.get("/runs")
            ok = response.status_code == 200 and response.json()["total"] >= 1
        except (httpx.HTTPError, ValueError, KeyError):
            ok = False
        if ok:
            phase.latencies.append(time.perf_counter() - started)
        else:
            phase.errors += 1
    phase.cpu_share = (cpu_seconds(server) - cpu_before) / (time.monotonic() - wall_before)


async def watch(client: httpx.AsyncClient, run_id: int, watcher: Watcher) -> None:
    """Follow the run's stream to its `end`, noting every id received."""
    try:
        async with client.stream("GET", f"/runs/{run_id}/stream") as response:
            if response.status_code != 200:
                watcher.errors.append(f"HTTP {response.status_code}")
                return
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    ident = line[3:].strip()
                    (watcher.points if ident.startswith("p") else watcher.events).append(int(ident[1:]))
                elif line.startswith("event:") and line[6:].strip() == "end":
                    watcher.ended = True
    except httpx.HTTPError as error:
        watcher.errors.append(repr(error))


async def measure(
    url: str, server: psutil.Process, clients: int, seconds: float, idle_seconds: float
) -> tuple[list[Phase], list[Watcher], dict[str, list[int]]]:
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0, read=120.0), limits=limits) as http:
        run = (
            await http.post(
                "/runs",
                params={"queue": "false"},
                json={
                    "name": "serve-load",
                    "method": "lora",
                    "data": {"max_length": 64},
                    "training": {"max_steps": 100_000, "logging_steps": 1, "save_steps": 100_000},
                },
            )
        ).json()
        run_id = run["id"]
        try:
            # Measure only once it trains (the demo model is built on first use).
            while not (await http.get(f"/runs/{run_id}/metrics")).json()["points"]:
                await asyncio.sleep(0.5)

            idle = Phase("idle")
            await poll_runs(http, idle_seconds, idle, server)

            watchers = [Watcher() for _ in range(clients)]
            streams = [asyncio.create_task(watch(http, run_id, watcher)) for watcher in watchers]
            loaded = Phase("loaded")
            await poll_runs(http, seconds, loaded, server)
        finally:
            # Whatever happened, the run stops (it was given far more steps than it needs).
            await http.post(f"/runs/{run_id}/cancel")
        await asyncio.wait_for(asyncio.gather(*streams), timeout=180)
        store = {
            "points": [point["id"] for point in (await http.get(f"/runs/{run_id}/metrics")).json()["points"]],
            "events": [event["id"] for event in (await http.get(f"/runs/{run_id}/events")).json()["events"]],
        }
    return [idle, loaded], watchers, store


def report(phases: list[Phase], watchers: list[Watcher], store: dict[str, list[int]], clients: int) -> int:
    idle, loaded = phases
    missed_points = sum(len(set(store["points"]) - set(w.points)) for w in watchers)
    missed_events = sum(len(set(store["events"]) - set(w.events)) for w in watchers)
    out_of_order = sum(w.points != sorted(set(w.points)) or w.events != sorted(set(w.events)) for w in watchers)
    stream_errors = sum(len(w.errors) for w in watchers)
    not_ended = sum(not w.ended for w in watchers)
    errors = idle.errors + loaded.errors + stream_errors

    print(f"\nserve_load on {platform.machine()}, {psutil.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"\n| | idle: no stream clients | loaded: {clients} stream clients |")
    print("| --- | ---: | ---: |")
    print(f"| GET /runs requests | {len(idle.latencies):,} | {len(loaded.latencies):,} |")
    print(f"| GET /runs p50 | {idle.percentile(0.50):.1f} ms | {loaded.percentile(0.50):.1f} ms |")
    print(f"| GET /runs p99 | {idle.percentile(0.99):.1f} ms | {loaded.percentile(0.99):.1f} ms |")
    print(f"| server CPU (1.00 = one core) | {idle.cpu_share:.2f} | {loaded.cpu_share:.2f} |")
    print(f"| errors | {idle.errors} | {loaded.errors + stream_errors} |")
    print(f"\nstream: {len(store['points'])} metric points and {len(store['events'])} events in the store for the run;")
    print(
        f"  {clients} clients: missed points {missed_points}, missed events {missed_events}, "
        f"out of order or twice {out_of_order}, ended without `end` {not_ended}"
    )
    ratio = loaded.percentile(0.50) / idle.percentile(0.50)
    print(
        f"\nsummary: GET /runs p50 with {clients} live clients / idle = {ratio:.2f}x; "
        f"p99 {loaded.percentile(0.99) / idle.percentile(0.99):.2f}x; "
        f"server CPU {loaded.cpu_share:.2f} vs {idle.cpu_share:.2f} of a core; "
        f"{clients * len(store['points']):,} point deliveries, {missed_points} missed; errors {errors}"
    )
    if stream_errors:
        print("stream errors:", sorted({e for w in watchers for e in w.errors})[:5])
    return 1 if errors or missed_points or missed_events or out_of_order or not_ended else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="Length of the loaded phase.")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="Length of the baseline phase.")
    args = parser.parse_args()
    if (
        not 1 <= args.clients <= MAX_CLIENTS
        or not 0 < args.seconds <= MAX_SECONDS
        or not 0 < args.idle_seconds <= MAX_SECONDS
    ):
        raise SystemExit(f"--clients 1..{MAX_CLIENTS}, --seconds and --idle-seconds up to {MAX_SECONDS}")
    home = Path(tempfile.mkdtemp(prefix="tuitune-serve-load-"))
    server, url = start_server(home)
    try:
        phases, watchers, store = asyncio.run(
            measure(url, psutil.Process(server.pid), args.clients, args.seconds, args.idle_seconds)
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(home, ignore_errors=True)
    sys.exit(report(phases, watchers, store, args.clients))


if __name__ == "__main__":
    main()
