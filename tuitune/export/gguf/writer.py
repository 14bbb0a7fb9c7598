"""Write a Hugging Face model folder as one GGUF file, a tensor at a time.

The header (every tensor's name, shape and type) is written first from the safetensors headers
alone; then each tensor is read, converted (q/k permuted for llama-style rotary embeddings,
quantized) and written before the next is read. Memory holds one tensor and its quantized copy,
never the model: an 8B export needs no more than its largest tensor, however big the model is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import ExportError
from tuitune.export.choices import K_QUANTS, QUANTS
from tuitune.export.gguf.architectures import Family, family_of, head_dim, permute_rows, rope_settings
from tuitune.export.gguf.vocab import Vocabulary, write_vocabulary

# gguf, numpy and safetensors are imported in the functions: importing tuitune.export stays light.

# Tensors a checkpoint may carry that the model recomputes (rotary frequencies).
_DERIVED = ("rotary_emb.inv_freq",)


@dataclass(frozen=True)
class Written:
    """What went into the file."""

    path: Path
    arch: str
    quant: str
    tensors: int
    bytes: int


def write_gguf(
    folder: Path,
    output: Path,
    *,
    quant: str,
    vocabulary: Vocabulary,
    name: str,
    on_tensor: Callable[[int, int], None] | None = None,
    permute: bool = True,
) -> Written:
    """Write the model in `folder` (config.json + safetensors) to `output` at `quant`.

    `permute=False` leaves q/k as transformers lays them out; only a test uses it, to show that
    the round trip catches a file written without the permutation.
    """
    import gguf

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    family = family_of(config)
    if quant not in QUANTS:
        raise ExportError(f"Unknown quantization {quant!r}: use one of {', '.join(QUANTS + K_QUANTS)}.")
    arch = _model_arch(family)
    blocks = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(arch, blocks)
    plan = list(_plan(folder, config, names, quant))

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    writer = gguf.GGUFWriter(str(partial), family.arch)
    try:
        _write_metadata(writer, config, family, vocabulary, name=name, quant=quant)
        for item in plan:
            writer.add_tensor_info(
                item.gguf_name, item.stored_shape, item.stored_dtype, item.nbytes, raw_dtype=item.qtype
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for index, (_, data) in enumerate(_tensors(folder, plan, config, family, permute=permute)):
            writer.write_tensor_data(data)
            if on_tensor is not None:
                on_tensor(index + 1, len(plan))
        writer.close()
        os.replace(partial, output)
    except OSError as error:
        raise ExportError(f"Cannot write {output}: {error.strerror or error}.") from None
    finally:
        if partial.exists():
            partial.unlink()
    return Written(output, family.arch, quant, len(plan), output.stat().st_size)


@dataclass(frozen=True)
class _Tensor:
    hf_name: str
    gguf_name: str
    shard: Path
    shape: tuple[int, ...]
    qtype: Any  # gguf.GGMLQuantizationType
    stored_shape: tuple[int, ...]
    stored_dtype: Any  # numpy dtype of what is written
    nbytes: int


def _model_arch(family: Family) -> Any:
    import gguf

    for arch, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == family.arch:
            return arch
    raise ExportError(
        f"This gguf package does not know the {family.arch} architecture: upgrade it (pip install -U gguf)."
    )


def _shards(folder: Path) -> list[Path]:
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise ExportError(
            f"{folder} has no .safetensors weights (an old .bin checkpoint?): load and save it again with "
            "save_pretrained(), then export."
        )
    return shards


def _plan(folder: Path, config: dict[str, Any], names: Any, quant: str) -> Iterator[_Tensor]:
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import quant_shape_to_byte_shape
    from safetensors import safe_open

    tied = bool(config.get("tie_word_embeddings"))
    for shard in _shards(folder):
        with safe_open(str(shard), framework="pt") as handle:
            for hf_name in handle.keys():  # noqa: SIM118 (a safetensors handle is no dict)
                if hf_name.endswith(_DERIVED) or (tied and hf_name == "lm_head.weight"):
                    continue
                gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                if gguf_name is None:
                    raise ExportError(
                        f"tuitune does not know where {hf_name} goes in a GGUF file: export --to vllm instead."
                    )
                shape = tuple(handle.get_slice(hf_name).get_shape())
                qtype = _tensor_type(gguf_name, shape, quant)
                if qtype in (Q.F32, Q.F16):
                    dtype = np.dtype(np.float32 if qtype == Q.F32 else np.float16)
                    stored, nbytes = shape, int(np.prod(shape)) * dtype.itemsize
                else:
                    dtype = np.dtype(np.uint8)
                    stored = tuple(quant_shape_to_byte_shape(shape, qtype))
                    nbytes = int(np.prod(stored))
                yield _Tensor(hf_name, gguf_name, shard, shape, qtype, stored, dtype, nbytes)


def _tensor_type(gguf_name: str, shape: tuple[int, ...], quant: str) -> Any:
    """llama.cpp's choices: vectors (norms, biases) stay F32; a matrix whose rows do not split into
    32-value blocks falls back to F16; Q4_0 keeps the output layer at Q8_0, where 4 bits hurt most."""
    from gguf import GGML_QUANT_SIZES
    from gguf import GGMLQuantizationType as Q

    wanted = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[quant]
    if len(shape) < 2 or wanted == Q.F32:
        return Q.F32
    if wanted == Q.Q4_0 and gguf_name == "output.weight":
        wanted = Q.Q8_0
    block = GGML_QUANT_SIZES[wanted][0]
    if shape[-1] % block:
        return Q.F16
    return wanted


def _tensors(
    folder: Path, plan: list[_Tensor], config: dict[str, Any], family: Family, *, permute: bool
) -> Iterator[tuple[_Tensor, Any]]:
    import torch
    from gguf import quantize
    from safetensors import safe_open

    heads, kv_heads = (
        int(config["num_attention_heads"]),
        int(config.get("num_key_value_heads") or config["num_attention_heads"]),
    )
    by_shard: dict[Path, list[_Tensor]] = {}
    for item in plan:
        by_shard.setdefault(item.shard, []).append(item)
    # Written in the header's order: one shard open at a time, one tensor in memory at a time.
    order = {item.hf_name: index for index, item in enumerate(plan)}
    for shard in dict.fromkeys(item.shard for item in plan):
        with safe_open(str(shard), framework="pt") as handle:
            for item in sorted(by_shard[shard], key=lambda t: order[t.hf_name]):
                data = handle.get_tensor(item.hf_name).to(torch.float32).numpy()
                if permute and family.permute_qk:
                    if item.gguf_name.endswith("attn_q.weight"):
                        data = permute_rows(data, heads)
                    elif item.gguf_name.endswith("attn_k.weight"):
                        data = permute_rows(data, kv_heads)
                yield item, quantize(data, item.qtype)


def _write_metadata(
    writer: Any, config: dict[str, Any], family: Family, vocabulary: Vocabulary, *, name: str, quant: str
) -> None:
    import gguf

    file_types = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "bf16": gguf.LlamaFileType.MOSTLY_BF16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    }
    label = f"{name} ({family.name_hint})" if family.name_hint and family.name_hint not in name.lower() else name
    writer.add_name(label)
    writer.add_file_type(file_types[quant])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or config["num_attention_heads"]))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps") or 1e-6))
    writer.add_rope_freq_base(float(rope_settings(config)["rope_theta"]))
    dim = head_dim(config)
    writer.add_rope_dimension_count(dim)
    if dim != int(config["hidden_size"]) // int(config["num_attention_heads"]) or family.arch == "qwen3":
        writer.add_key_length(dim)
        writer.add_value_length(dim)
    writer.add_vocab_size(len(vocabulary.tokens))
    write_vocabulary(writer, vocabulary)
