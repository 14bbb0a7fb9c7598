"""GGUF export: time and peak memory, the whole model loaded first (baseline) against tuitune's
streaming writer, on one random Llama-shaped checkpoint.

    python benchmarks/export_gguf.py                      # TinyLlama's shape (1.1B), bf16 on disk
    python benchmarks/export_gguf.py --layers 4 --quant q8_0

Each variant runs in a fresh process, so its peak RSS (ru_maxrss) is its own. The baseline is what
a simple converter does: every tensor read into memory, converted, then the file written. The
streaming writer holds one tensor (and its quantized copy) at a time: its peak is the largest
tensor plus the Python process, whatever the model's size. Prints the ratio of each.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = dict(hidden_size=2048, intermediate_size=5632, num_attention_heads=32, num_key_value_heads=4, vocab_size=32000)


def build(folder: Path, layers: int) -> int:
    """A random bf16 checkpoint written tensor by tensor (the model is never whole in memory)."""
    import torch
    from safetensors.torch import save_file

    from tuitune.models.demo import ensure_demo_model

    h, f, v = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"]
    kv = h // SHAPE["num_attention_heads"] * SHAPE["num_key_value_heads"]
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "num_hidden_layers": layers,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        **SHAPE,
    }
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    demo = ensure_demo_model()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (demo / name).exists():
            (folder / name).write_bytes((demo / name).read_bytes())
    generator = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator) * 0.02).to(torch.bfloat16)

    params = 0
    outer = {
        "model.embed_tokens.weight": rand(v, h),
        "lm_head.weight": rand(v, h),
        "model.norm.weight": torch.ones(h, dtype=torch.bfloat16),
    }
    save_file(outer, str(folder / "model-00000.safetensors"))
    params += sum(t.numel() for t in outer.values())
    for layer in range(layers):
        p = f"model.layers.{layer}."
        tensors = {
            p + "self_attn.q_proj.weight": rand(h, h),
            p + "self_attn.k_proj.weight": rand(kv, h),
            p + "self_attn.v_proj.weight": rand(kv, h),
            p + "self_attn.o_proj.weight": rand(h, h),
            p + "mlp.gate_proj.weight": rand(f, h),
            p + "mlp.up_proj.weight": rand(f, h),
            p + "mlp.down_proj.weight": rand(h, f),
            p + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
            p + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
        }
        save_file(tensors, str(folder / f"model-{layer + 1:05d}.safetensors"))
        params += sum(t.numel() for t in tensors.values())
    return params


def run_variant(variant: str, folder: Path, out: Path, quant: str) -> None:
    """In this (fresh) process: write the GGUF one way, print seconds and peak RSS as JSON."""
    from transformers import AutoTokenizer

    from tuitune.export.gguf.vocab import read_vocabulary
    from tuitune.export.gguf.writer import write_gguf

    config = json.loads((folder / "config.json").read_text())
    vocabulary = read_vocabulary(
        folder, AutoTokenizer.from_pretrained(folder), config["vocab_size"], chat_template=None
    )
    start = time.perf_counter()
    if variant == "streaming":
        write_gguf(folder, out, quant=quant, vocabulary=vocabulary, name="bench")
    else:
        _whole_model_first(folder, out, quant, vocabulary)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(json.dumps({"variant": variant, "seconds": seconds, "peak_gib": peak, "bytes": out.stat().st_size}))


def _whole_model_first(folder: Path, out: Path, quant: str, vocabulary) -> None:
    """The baseline: every tensor in memory (converted and quantized), then the file written."""
    import gguf
    import torch
    from safetensors.torch import load_file

    from tuitune.export.gguf.architectures import family_of, permute_rows
    from tuitune.export.gguf.writer import _tensor_type, _write_metadata

    config = json.loads((folder / "config.json").read_text())
    family = family_of(config)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(shard)))
    writer = gguf.GGUFWriter(str(out), family.arch)
    _write_metadata(writer, config, family, vocabulary, name="bench", quant=quant)
    for hf_name, tensor in state.items():
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        data = tensor.to(torch.float32).numpy()
        if gguf_name.endswith("attn_q.weight"):
            data = permute_rows(data, config["num_attention_heads"])
        elif gguf_name.endswith("attn_k.weight"):
            data = permute_rows(data, config["num_key_value_heads"])
        qtype = _tensor_type(gguf_name, tuple(data.shape), quant)
        writer.add_tensor(gguf_name, gguf.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=22, help="decoder layers (22: TinyLlama's 1.1B)")
    parser.add_argument("--quant", default="q8_0")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.folder, args.out, args.quant)
        return
    with tempfile.TemporaryDirectory(prefix="tuitune-gguf-bench-") as tmp:
        folder = Path(tmp) / "model"
        params = build(folder, args.layers)
        on_disk = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1024**3
        print(
            f"random Llama, {args.layers} layers, {params / 1e9:.2f}B parameters, {on_disk:.2f} GiB bf16 on disk; {args.quant}"
        )
        results = {}
        for variant in ("whole-model-first", "streaming"):
            out = Path(tmp) / f"{variant}.gguf"
            done = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--folder", str(folder), "--out", str(out), "--quant", args.quant],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
            out.unlink()
            r = results[variant]
            print(
                f"  {variant:18} {r['seconds']:7.1f} s  peak RSS {r['peak_gib']:5.2f} GiB  file {r['bytes'] / 1024**3:.2f} GiB"
            )
        base, ours = results["whole-model-first"], results["streaming"]
        print(
            f"streaming / whole-model-first: time {ours['seconds'] / base['seconds']:.2f}x, "
            f"peak memory {ours['peak_gib'] / base['peak_gib']:.2f}x"
        )


if __name__ == "__main__":
    main()
