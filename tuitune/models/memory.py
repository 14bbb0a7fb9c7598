"""A rough estimate of the memory one training process needs, per method.

Good to a few tens of percent, which is what choosing between full fine-tuning, LoRA and QLoRA and
a batch size needs; the real peak also depends on kernels, the allocator and sequence lengths.
All sizes are GiB (2**30 bytes), the unit nvidia-smi's MiB divide into.

The parts, for P parameters of which T are trained, B bytes per value (2 for bf16/fp16, 4 for fp32):

- weights: P*B; QLoRA stores the linear layers in 4-bit NF4 (0.5 byte per parameter plus ~0.016
  for the double-quantized block scales) and the rest (embeddings, head, norms) in B bytes. LoRA
  adapters are kept in fp32 (peft upcasts them), 4 bytes per adapter parameter.
- gradients: one per trained parameter (B bytes for full fine-tuning, 4 for fp32 adapters).
- optimizer: AdamW keeps two fp32 moments per trained parameter: 8*T bytes.
- activations: per token and layer, a decoder layer with flash/SDPA attention keeps about
  8h + 4i values (norm inputs/outputs, q/k/v, attention output, residuals: ~8h; the MLP's
  gate/up/activation/product: ~4i) for the backward pass. Gradient checkpointing keeps only each
  layer's input (h values) plus one layer's worth during recomputation. The logits add
  tokens*V*(B+8) bytes (the logits, their fp32 upcast for the loss, and its gradient).
- overhead: 0.5 GiB (CUDA context, kernels, workspace) plus 10% of the rest (allocator fragmentation).

Objectives: a preference pair (dpo, orpo, simpo) runs its chosen and rejected answers in one batch,
so twice the activations; kto's batch is its answers plus as many mismatched ones for its KL term,
twice too; grpo's batch is its completions (the batch is counted in completions). A reference kept
as a second copy (a full fine-tune's live reference for dpo or kto, or grpo's with beta > 0) adds
its weights (`reference_gb`); with an adapter the reference is the base with the adapter off, and
precomputed log-probabilities keep no copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tuitune.errors import InvalidConfigError
from tuitune.models.inspect import ModelInfo

GIB = 1024**3
ESTIMATED_METHODS: tuple[str, ...] = ("full_finetuning", "lora", "qlora")
_NF4_BYTES_PER_PARAM = 0.5 + 0.016
_FIXED_OVERHEAD_GB = 0.5
_FRAGMENTATION = 0.10
# The objectives whose batch holds two sequences per sample (a pair, or kto's answer and its KL mate).
PAIRED_OBJECTIVES = ("dpo", "orpo", "simpo", "kto")


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak memory of one training process, by part, in GiB."""

    method: str
    batch_size: int
    max_length: int
    lora_r: int | None
    gradient_checkpointing: bool
    trainable_parameters: int
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    objective: str = "sft"
    reference_gb: float = 0.0  # a second copy of the model kept as the reference

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def activations_bytes(
    info: ModelInfo, *, batch_size: int, max_length: int, gradient_checkpointing: bool, dtype_bytes: int
) -> float:
    """Activation memory kept for the backward pass (see the module docstring for the formula)."""
    tokens = batch_size * max_length
    per_layer_values = 8 * info.hidden_size + 4 * info.intermediate_size
    if gradient_checkpointing:
        kept = tokens * (info.num_layers * info.hidden_size + per_layer_values)
    else:
        kept = tokens * info.num_layers * per_layer_values
    logits = tokens * info.vocab_size * (dtype_bytes + 8)
    return kept * dtype_bytes + logits


def estimate_memory(
    info: ModelInfo,
    method: str,
    *,
    batch_size: int,
    max_length: int,
    lora_r: int = 8,
    gradient_checkpointing: bool = False,
    dtype_bytes: int = 2,
    objective: str = "sft",
    reference_copy: bool = False,
) -> MemoryEstimate:
    """Estimate the peak memory of training `info` with `method` (full_finetuning, lora, qlora;
    instruction_tuning counts as lora) for `objective`; `reference_copy`: a second copy of the
    model is kept as the reference (see the module docstring)."""
    if method == "instruction_tuning":
        method = "lora"
    if method not in ESTIMATED_METHODS:
        raise InvalidConfigError(f"Unknown method {method!r}: use one of {', '.join(ESTIMATED_METHODS)}.")
    params = info.parameters
    weights: float
    if method == "full_finetuning":
        trainable = params
        weights = params * dtype_bytes
        gradients = trainable * dtype_bytes
        adapter_r: int | None = None
    else:
        trainable = info.lora_parameters(lora_r)
        adapter_r = lora_r
        if method == "qlora":
            frozen = info.linear_parameters * _NF4_BYTES_PER_PARAM + (params - info.linear_parameters) * dtype_bytes
        else:
            frozen = params * dtype_bytes
        weights = frozen + trainable * 4
        gradients = trainable * 4
    optimizer = trainable * 8
    sequences = batch_size * (2 if objective in PAIRED_OBJECTIVES else 1)
    reference = params * dtype_bytes if reference_copy else 0.0
    activations = activations_bytes(
        info,
        batch_size=sequences,
        max_length=max_length,
        gradient_checkpointing=gradient_checkpointing,
        dtype_bytes=dtype_bytes,
    )
    subtotal = (weights + gradients + optimizer + activations + reference) / GIB
    overhead = _FIXED_OVERHEAD_GB + _FRAGMENTATION * subtotal
    return MemoryEstimate(
        method=method,
        batch_size=batch_size,
        max_length=max_length,
        lora_r=adapter_r,
        gradient_checkpointing=gradient_checkpointing,
        trainable_parameters=trainable,
        weights_gb=weights / GIB,
        gradients_gb=gradients / GIB,
        optimizer_gb=optimizer / GIB,
        activations_gb=activations / GIB,
        overhead_gb=overhead,
        total_gb=subtotal + overhead,
        objective=objective,
        reference_gb=reference / GIB,
    )


def per_gpu_gb(estimate: MemoryEstimate, strategy: str, gpus: int) -> float:
    """Each GPU's share of `estimate` when `gpus` GPUs train with `strategy`.

    DDP keeps a whole copy on every GPU; ZeRO-2 shards the gradients and optimizer state; FSDP and
    ZeRO-3 shard the weights too. Activations are each GPU's own.
    """
    if gpus <= 1 or strategy == "ddp":
        return estimate.total_gb
    sharded = estimate.gradients_gb + estimate.optimizer_gb
    if strategy in ("fsdp", "deepspeed-zero3"):
        sharded += estimate.weights_gb + estimate.reference_gb
    subtotal = estimate.total_gb - estimate.overhead_gb - sharded + sharded / gpus
    return subtotal + _FIXED_OVERHEAD_GB + _FRAGMENTATION * subtotal


__all__ = ["ESTIMATED_METHODS", "MemoryEstimate", "activations_bytes", "estimate_memory", "per_gpu_gb"]
