"""How tuitune starts its own Python child processes (workers, probes, eval/merge/upload, servers).

`python -m module` puts the current folder first on `sys.path`, so training from a folder that
holds a `secrets.py`, `datasets.py` or `logging.py` would run that file inside the child. Every
child is started through `python_command`, which keeps the current folder off the import path
(`-P`, and `PYTHONSAFEPATH` so grandchildren such as dataloader workers do the same), and with
`child_environment`, which tells it where the store is. Nothing here imports torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from tuitune.system import paths

# Python 3.10 has no -P: run the module through runpy after dropping the path entry that
# `-c` puts first (the current folder).
_SAFE_RUNNER = "import runpy, sys; del sys.path[0]; runpy.run_module(sys.argv[1], run_name='__main__', alter_sys=True)"


def python_command(module: str, *args: str) -> list[str]:
    """`python -m module args…` with the current folder kept off the child's import path."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module, *args]
    return [sys.executable, "-c", _SAFE_RUNNER, module, *args]


# The service's API token: no child needs it, and a child may run code tuitune did not write
# (a model's own code, a reward function), which must not be able to read it.
API_TOKEN_ENV = "TUITUNE_API_TOKEN"


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, less the API token, plus what every tuitune child needs."""
    env = dict(os.environ)
    env.pop(API_TOKEN_ENV, None)
    env[paths.HOME_ENV] = str(paths.home())  # the child must find the same store
    env["PYTHONSAFEPATH"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra or {})
    return env


def as_tuitune_process() -> None:
    """Settle the environment of one of tuitune's own processes (the CLI, the app) and of every
    child it starts. Call before anything imports pydantic; `import tuitune` in a user's program
    leaves their environment alone.

    No pydantic plugin is loaded: looking for them reads the entry points of every installed
    package, 60-150 ms of each start, and none is meant for tuitune.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
