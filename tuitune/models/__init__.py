"""Models: loading and quantization, LoRA targets, inspection, memory estimates, recommendations
and the built-in demo model. Each module imports torch/transformers inside its functions only."""

import logging as _logging

# bitsandbytes' CPU backend warns on import (also when peft imports it) that an optional `kernels`
# package is missing; its built-in fallback works, so on a CPU the warning only misleads.
_logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(_logging.ERROR)
