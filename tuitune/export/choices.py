"""What a run can be exported to, declared once: the CLI's options, the app's dialog and the
service's request read them from here (light: nothing is imported)."""

from __future__ import annotations

TARGETS: tuple[str, ...] = ("gguf", "ollama", "vllm")
# What tuitune writes itself (the gguf package's quantizers, numpy only).
QUANTS: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0", "q4_0")
# What only llama.cpp's own quantizer writes (it must be on the PATH; tuitune never builds it).
K_QUANTS: tuple[str, ...] = ("q4_k_m", "q5_k_m", "q6_k")
# Near lossless at a quarter of f32's size: greedy agreement >= 99% is its round trip's bar.
DEFAULT_QUANT = "q8_0"
