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

# What each target is for, in the words a user picks by (the app's dialog and the dashboard's).
TARGET_WORDS: dict[str, str] = {
    "ollama": "Ollama: GGUF + a Modelfile with the run's template",
    "gguf": "GGUF: one file for llama.cpp, LM Studio, Jan…",
    "vllm": "vLLM: a script that serves the run",
}
QUANT_WORDS: dict[str, str] = {
    "f32": "f32 · exact, largest",
    "f16": "f16 · half the size, near exact",
    "bf16": "bf16 · half the size",
    "q8_0": "q8_0 · a quarter, near lossless",
    "q4_0": "q4_0 · an eighth, some loss",
    "q4_k_m": "q4_k_m · llama.cpp's 4-bit",
    "q5_k_m": "q5_k_m · llama.cpp's 5-bit",
    "q6_k": "q6_k · llama.cpp's 6-bit",
}
