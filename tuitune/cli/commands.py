"""Imports every command module so each registers itself on `app` (order = order in --help)."""

from tuitune.cli import (  # noqa: F401
    chat_cmd,
    cluster_cmd,
    compare_cmd,
    data_cmd,
    evaluate_cmd,
    export_cmd,
    labels_cmd,
    metrics_cmd,
    notify_cmd,
    queue_cmd,
    recommend_cmd,
    rerun_cmd,
    runs_cmd,
    serve_cmd,
    store_cmd,
    sweep_cmd,
    train_cmd,
)
