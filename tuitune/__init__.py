"""tuitune: fine-tune language models from a terminal app, a CLI, or Python.

The Python API is imported lazily so that `import tuitune` stays light (no torch):

    import tuitune
    config = tuitune.ConfigBuilder().demo().training(max_steps=20).build()
    result = tuitune.train(config)
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# bitsandbytes warns on import, on every CPU without the optional Hub-downloaded `kernels`
# package, that it falls back to its built-in 4-bit kernel. It is noise on stderr for our users
# (and breaks "one line per error"); the fallback works. Setting a level imports nothing.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY = {
    "RunConfig": "tuitune.config",
    "ConfigBuilder": "tuitune.config",
    "load_config": "tuitune.config",
    "DEMO_MODEL": "tuitune.config",
    "SAMPLE_DATASET": "tuitune.config",
    "TuituneError": "tuitune.errors",
    "train": "tuitune.engine.api",
    "TrainResult": "tuitune.engine.api",
    "rerun": "tuitune.engine.rerun",
    "open_store": "tuitune.store",
    "RunService": "tuitune.service.runs",
    "evaluate_run": "tuitune.evaluation",
    "compare_runs": "tuitune.runs.compare",
    "export_metrics": "tuitune.runs.metrics_export",
    "merge_run": "tuitune.export",
    "merge_adapter": "tuitune.export",
    "export_run": "tuitune.export",
    "upload": "tuitune.export",
    "chat": "tuitune.chats",
}

if TYPE_CHECKING:
    from tuitune.chats import chat
    from tuitune.config import DEMO_MODEL, SAMPLE_DATASET, ConfigBuilder, RunConfig, load_config
    from tuitune.engine.api import TrainResult, train
    from tuitune.engine.rerun import rerun
    from tuitune.errors import TuituneError
    from tuitune.evaluation import evaluate_run
    from tuitune.export.merge import merge_adapter, merge_run
    from tuitune.export.run_export import export_run
    from tuitune.export.upload import upload
    from tuitune.runs.compare import compare_runs
    from tuitune.runs.metrics_export import export_metrics
    from tuitune.service.runs import RunService
    from tuitune.store import open_store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tuitune' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEMO_MODEL",
    "SAMPLE_DATASET",
    "ConfigBuilder",
    "RunConfig",
    "RunService",
    "TrainResult",
    "TuituneError",
    "__version__",
    "chat",
    "compare_runs",
    "evaluate_run",
    "export_metrics",
    "export_run",
    "load_config",
    "merge_adapter",
    "merge_run",
    "open_store",
    "rerun",
    "train",
    "upload",
]
