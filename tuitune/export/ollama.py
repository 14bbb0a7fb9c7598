"""An Ollama Modelfile beside an exported GGUF: the file, the prompt format, the stop tokens.

"Gibberish in Ollama" is nearly always a Modelfile that formats prompts differently from training,
or that does not stop at the end-of-turn token: the TEMPLATE here is the run's own template written
in Go's text/template (`tuitune.export.chat_formats`), and every token that ends an answer is a
`PARAMETER stop`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tuitune.errors import ExportError
from tuitune.system.child import API_TOKEN_ENV

MODELFILE = "Modelfile"
# Ollama needs neither tuitune's API token nor a Hugging Face token.
_SECRETS = (API_TOKEN_ENV, "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# How long `ollama create` may take to copy a GGUF into Ollama's store.
CREATE_TIMEOUT_S = 1800


def model_name(run_name: str) -> str:
    """An Ollama model name from a run's name (lowercase letters, digits, '.', '_', '-')."""
    return re.sub(r"[^a-z0-9._-]+", "-", run_name.lower()).strip("-._") or "tuitune-model"


def modelfile(
    gguf_name: str,
    *,
    template: str | None,
    stops: Sequence[str],
    system: str | None,
    comments: Sequence[str],
) -> tuple[str, list[str]]:
    """The Modelfile's text, and notes on anything left out."""
    notes: list[str] = []
    lines = [*(f"# {line}" for line in comments), f"FROM ./{gguf_name}"]
    if template is not None:
        lines.append(f'TEMPLATE """{template}"""')
    for stop in stops:
        if '"' in stop:
            notes.append(f"The stop token {stop!r} holds a quote, which a Modelfile cannot say: add it by hand.")
            continue
        lines.append(f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}")
    if system:
        if '"""' in system:
            notes.append('The system prompt holds """, which a Modelfile cannot quote: set it in Ollama instead.')
        else:
            lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n", notes


def create_command(name: str, modelfile_path: Path) -> list[str]:
    return ["ollama", "create", name, "-f", str(modelfile_path)]


def create(name: str, modelfile_path: Path) -> None:
    """Run `ollama create` (only when the user asks for it and Ollama is installed)."""
    if shutil.which("ollama") is None:
        raise ExportError(
            "Ollama is not installed here (no `ollama` on the PATH): install it from ollama.com, then run "
            f"`ollama create {name} -f {modelfile_path}`."
        )
    try:
        done = subprocess.run(
            create_command(name, modelfile_path),
            cwd=modelfile_path.parent,
            env={key: value for key, value in os.environ.items() if key not in _SECRETS},
            capture_output=True,
            text=True,
            timeout=CREATE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExportError(
            f"`ollama create {name}` took over {CREATE_TIMEOUT_S // 60} minutes: is its server up?"
        ) from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"`ollama create {name}` failed ({last[0][:300]}): is `ollama serve` running?")
