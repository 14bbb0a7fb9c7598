#!/usr/bin/env bash
# Fill a wheelhouse (.whl/ in the checkout) for benchmarks/gpu_suite.sh on a GPU machine without
# network: run this where PyPI is reachable, then copy or carry .whl/ along with the checkout.
#
#   bash benchmarks/gpu_wheels.sh [PYTHON_VERSION]     # default 3.12, the usual CUDA images' Python
#
# It fetches tuitune's own dependencies and the suite's extras (liger-kernel, TRL, pytest plugins)
# for manylinux x86_64, without their dependencies: a CUDA image already has torch, numpy,
# transformers and their kind, and the suite installs only what its Python lacks (into a scratch
# folder, with --no-deps). Packages published only as source are built into wheels here.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-3.12}"
DEST=".whl"
mkdir -p "$DEST"
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude

# What tuitune and the suite need beyond a CUDA image's usual torch/transformers/peft/accelerate stack.
PACKAGES=(
  datasets dill multiprocess bitsandbytes pydantic pydantic-core annotated-types typing-inspection
  peewee platformdirs textual textual-plotext plotext mdit-py-plugins linkify-it-py uc-micro-py
  rouge-score nltk fastapi starlette uvicorn sse-starlette pytest-asyncio pytest-timeout
  liger-kernel trl
)
PLATFORMS=()
for n in 17 24 27 28 31 34; do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)

for package in "${PACKAGES[@]}"; do
  if ! python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$VERSION" --implementation cp \
       "${PLATFORMS[@]}" -d "$DEST" "$package" 2>/dev/null; then
    # Published as source only (pure Python): build the wheel here.
    python3 -m pip wheel -q --no-deps -w "$DEST" "$package"
  fi
done
du -sh "$DEST"
ls "$DEST"
