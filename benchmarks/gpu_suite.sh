#!/usr/bin/env bash
# The GPU suite: what the first machine with an NVIDIA GPU runs to check every GPU claim tuitune
# makes, offline, in under 8 minutes. From the repository's root:
#
#   bash benchmarks/gpu_suite.sh            # on a machine with a CUDA GPU
#   bash benchmarks/gpu_suite.sh --dry-run  # anywhere: the same steps on the CPU, tiny models
#
# 1. `pytest -m gpu` (tests/test_gpu.py): bf16 chosen by itself, QLoRA in 4 bits, NVML readings
#    in the training screen's data, device_map, Liger and flash attention where installed,
#    packed samples kept apart, torch.compile, batched evaluation.
# 2. benchmarks/gpu_suite.py: per model and method (random-initialised Qwen2.5-0.5B and -1.5B,
#    Llama-3-8B for QLoRA; nothing downloaded) tokens/s, MFU, peak memory against the estimate,
#    and the Liger/compile/packing variants against plain. It prints a table in the format of
#    docs/benchmarks.md and writes it to $OUT (when set) or benchmarks/results/.
# 3. benchmarks/peers.py against TRL on the GPU, when TRL is installed and time is left.
# 4. the preference objectives against TRL: DPO against DPOTrainer (pairs/s, the final loss) and
#    GRPO against GRPOTrainer (samples/s), when time is left; a dry run runs them tiny on the CPU.
#
# Nothing is fetched from the network. Python: $TUITUNE_PYTHON, else the checkout's .venv, else
# python3. Packages it lacks come from a wheelhouse folder when one is there ($TUITUNE_WHEELS, or
# .whl/ in the checkout; benchmarks/gpu_wheels.sh fills one on a machine with PyPI), installed into
# a scratch folder, never into the system. The checkout itself is imported in place (PYTHONPATH).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DRY_RUN=""
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN="--dry-run"
BUDGET="${TUITUNE_GPU_SUITE_SECONDS:-470}"  # the whole suite, leaving a margin under 8 minutes
START=$(date +%s)
RESULTS="${OUT:-$ROOT/benchmarks/results}"
mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
LOG="$RESULTS/gpu-suite-$STAMP.log"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export HF_HOME="${HF_HOME:-/tmp/tuitune-gpu-suite-hf}"

if [[ -n "${TUITUNE_PYTHON:-}" ]]; then
  PY="$TUITUNE_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]] && "$ROOT/.venv/bin/python" -c "import torch" 2>/dev/null; then
  PY="$ROOT/.venv/bin/python"
else
  PY="$(command -v python3)"
fi

SITE="/tmp/tuitune-gpu-suite-site"
WHEELS="${TUITUNE_WHEELS:-$ROOT/.whl}"
missing() {
  "$PY" - <<'EOF'
import importlib.util
# What tuitune, its tests and the suite import (module names), beyond torch.
needed = ["transformers", "peft", "accelerate", "datasets", "bitsandbytes", "pydantic", "peewee", "platformdirs",
          "yaml", "typer", "rich", "psutil", "pynvml", "safetensors", "tokenizers", "pyarrow", "huggingface_hub",
          "textual", "pytest", "pytest_asyncio", "pytest_timeout", "rouge_score", "nltk", "fastapi", "httpx"]
print(" ".join(name for name in needed if importlib.util.find_spec(name) is None))
EOF
}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [[ -d "$SITE" ]]; then export PYTHONPATH="$PYTHONPATH:$SITE"; fi
LACKING="$(missing)"
if [[ -n "$LACKING" && -d "$WHEELS" ]] && compgen -G "$WHEELS/*.whl" >/dev/null; then
  echo "installing from $WHEELS into $SITE (lacking: $LACKING)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    || { echo "gpu_suite: installing the wheels in $WHEELS failed" >&2; exit 1; }
  export PYTHONPATH="$PYTHONPATH:$SITE"
  LACKING="$(missing)"
fi
if [[ -n "$LACKING" ]]; then
  echo "gpu_suite: $PY lacks $LACKING. Bring them as wheels: run benchmarks/gpu_wheels.sh on a machine with PyPI" \
       "and copy its .whl/ folder here (or set TUITUNE_WHEELS), or use a venv with 'pip install -e .[dev,gpu,bench]'." >&2
  exit 1
fi

exec > >(tee -a "$LOG") 2>&1
FAILED=0
echo "== tuitune GPU suite $STAMP ($PY; ${DRY_RUN:-on the GPU})"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
echo "== 1. pytest -m gpu"
# Every GPU-marked test, with a hard cap so a hang cannot eat the measurements' time.
timeout 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py || { echo "pytest -m gpu failed ($?)"; FAILED=1; }
LEFT=$(( BUDGET - ($(date +%s) - START) - 10 ))
echo "== 2. measurements (${LEFT} s left)"
# It skips what would not end in time and writes its table after every model; the timeout is
# the backstop for one run that overruns (the table then holds what was measured before it).
timeout "$(( LEFT > 10 ? LEFT : 10 ))" "$PY" benchmarks/gpu_suite.py $DRY_RUN --budget-seconds "$(( LEFT > 30 ? LEFT - 30 : 0 ))" \
  --out "$RESULTS/gpu-suite-$STAMP.md" || { echo "gpu_suite.py failed or overran its time"; FAILED=1; }
LEFT=$(( BUDGET - ($(date +%s) - START) ))
if [[ -z "$DRY_RUN" && $LEFT -gt 90 ]] && "$PY" -c "import trl" 2>/dev/null; then
  echo "== 3. against TRL (${LEFT} s left)"
  timeout $(( LEFT - 10 )) "$PY" benchmarks/peers.py --model qwen2.5-0.5b --steps 20 --repeats 1 \
    --variants trl,trl-packing,tuitune --json "$RESULTS/peers-$STAMP.json" | tee "$RESULTS/peers-$STAMP.md" \
    || { echo "peers.py failed or ran out of time"; FAILED=1; }
else
  echo "== 3. against TRL: skipped (${DRY_RUN:+a dry run; }${LEFT} s left; needs TRL installed and 90 s)"
fi
LEFT=$(( BUDGET - ($(date +%s) - START) ))
if [[ -n "$DRY_RUN" ]]; then
  DPO_ARGS=(--model llama-4m --rows 16 --steps 2 --max-length 128 --logging-steps 1)
  GRPO_ARGS=(--model tuitune/demo --steps 2 --max-completion-length 4 --logging-steps 1)
else
  DPO_ARGS=(--model qwen2.5-0.5b --rows 256 --steps 64 --max-length 512)
  GRPO_ARGS=(--model qwen2.5-0.5b --steps 8 --max-completion-length 64)
fi
if [[ ( -n "$DRY_RUN" || $LEFT -gt 120 ) ]] && "$PY" -c "import trl" 2>/dev/null; then
  echo "== 4. dpo and grpo against TRL (${LEFT} s left)"
  timeout $(( LEFT > 70 ? LEFT - 60 : 10 )) "$PY" benchmarks/peers.py --objective dpo "${DPO_ARGS[@]}" --repeats 1 \
    --variants trl,tuitune --json "$RESULTS/peers-dpo-$STAMP.json" | tee "$RESULTS/peers-dpo-$STAMP.md" \
    || { echo "peers.py --objective dpo failed or ran out of time"; FAILED=1; }
  LEFT=$(( BUDGET - ($(date +%s) - START) ))
  timeout $(( LEFT > 20 ? LEFT - 10 : 10 )) "$PY" benchmarks/peers.py --objective grpo "${GRPO_ARGS[@]}" --repeats 1 \
    --json "$RESULTS/peers-grpo-$STAMP.json" | tee "$RESULTS/peers-grpo-$STAMP.md" \
    || { echo "peers.py --objective grpo failed or ran out of time"; FAILED=1; }
else
  echo "== 4. dpo and grpo against TRL: skipped (${LEFT} s left; needs TRL installed and 120 s)"
fi
echo "== done in $(( $(date +%s) - START )) s; table: $RESULTS/gpu-suite-$STAMP.md; log: $LOG"
exit $FAILED
