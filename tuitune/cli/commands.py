"""Imports every command module so each registers itself on `app` (order = order in --help)."""

from tuitune.cli import (  # noqa: F401
    train_cmd,
    runs_cmd,
    compare_cmd,
    data_cmd,
    evaluate_cmd,
    export_cmd,
    recommend_cmd,
    queue_cmd,
    chat_cmd,
    serve_cmd,
    sweep_cmd,
    store_cmd,
)
