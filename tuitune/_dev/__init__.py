"""Helpers for tuitune's own tests, screenshot script and benchmarks: not part of the API.

`sample_runs` writes realistic runs straight into a store (deterministic, for snapshots and
benchmarks); `pilot` drives the app with Textual's pilot (waiting for its work, reading the screen).
"""
