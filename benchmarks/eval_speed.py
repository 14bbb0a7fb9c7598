"""Evaluation's generation speed: batched greedy generation against one `generate` call per sample.

    python benchmarks/eval_speed.py [--model llama-11m] [--samples 32] [--max-new-tokens 64] [--repeats 2]

What `tuitune eval` does for ROUGE and BLEU: greedy answers to held-out prompts, the fine-tuned
model with its LoRA adapter (and the base with the adapter switched off). The model is a
random-initialised architecture (`benchmarks/architectures.py`) with a LoRA adapter attached, the
prompts are the alpaca-style length mix's (`benchmarks/length_mix.py`) formatted with the chatml
template, and every variant calls `tuitune.evaluation.generation.generate`, which sorts prompts by
length, pads on the left and keeps the KV cache:

  one at a time     batch_size=1: a `generate` call per sample (the seed tools' loop)
  batched N         batch_size=N (tuitune's default is 8)
  batched 8, no KV cache   the same batches, every step recomputing the whole prefix

A random model rarely says EOS, so every answer runs to --max-new-tokens: all variants do the
same number of steps, and samples/s compares the generation loop itself. Variants alternate
within each repeat; the table shows the median and range of samples per second, and checks that
every variant produced the same answers (greedy decoding is deterministic).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="llama-11m", help="an architecture from benchmarks/architectures.py")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tuitune-eval-speed-"))
    os.environ["TUITUNE_HOME"] = str(home)

    import torch
    from architectures import build_model, parameter_count
    from length_mix import write_length_mix
    from peft import LoraConfig, get_peft_model

    from tuitune.config import ConfigBuilder
    from tuitune.data import get_template, load_examples
    from tuitune.evaluation.generation import generate
    from tuitune.models.loading import load_model, load_tokenizer
    from tuitune.models.targets import lora_target_modules

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    folder = build_model(args.model, home / "model", device="cuda" if cuda else "cpu")
    data = write_length_mix(home / "prompts.jsonl", rows=args.samples, seed=2)
    config = ConfigBuilder().model(str(folder)).data(str(data), validation_split=0).build()
    tokenizer = load_tokenizer(config.model)
    loaded = load_examples(config.data, method="lora")
    template = get_template("auto", tokenizer, format=loaded.format, method="lora")
    prompts = [template.prompt(example) for example in loaded.train][: args.samples]
    base = load_model(config.model, for_training=False)
    model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, target_modules=lora_target_modules(base), task_type="CAUSAL_LM")
    )
    model.eval()
    lengths = sorted(len(tokenizer(p)["input_ids"]) for p in prompts)
    print(
        f"{args.model} ({parameter_count(args.model) / 1e6:.1f}M parameters) + LoRA r8, {len(prompts)} prompts of "
        f"{lengths[0]}-{lengths[-1]} tokens (median {lengths[len(lengths) // 2]}), {args.max_new_tokens} new tokens; "
        f"torch {torch.__version__}, {'cuda ' + torch.cuda.get_device_name() if cuda else f'cpu x{torch.get_num_threads()}'}",
        flush=True,
    )

    variants: dict[str, dict] = {}
    for size in [int(b) for b in args.batch_sizes.split(",")]:
        variants["one at a time" if size == 1 else f"batched {size}"] = {"batch_size": size}
    variants["batched 8, no KV cache"] = {"batch_size": 8, "use_cache": False}

    rates: dict[str, list[float]] = {name: [] for name in variants}
    answers: dict[str, list[str]] = {}
    for repeat in range(args.repeats):
        for name, options in variants.items():
            use_cache = options.get("use_cache", True)
            started = time.perf_counter()
            outputs = generate(
                model,
                tokenizer,
                prompts,
                max_new_tokens=args.max_new_tokens,
                batch_size=options["batch_size"],
                add_special_tokens=template.add_special_tokens,
                use_cache=use_cache,
            )
            seconds = time.perf_counter() - started
            rates[name].append(len(prompts) / seconds)
            answers[name] = outputs
            print(
                f"  repeat {repeat + 1} {name:24s} {len(prompts) / seconds:7.2f} samples/s ({seconds:.1f} s)",
                flush=True,
            )

    loop = statistics.median(rates["one at a time"]) if "one at a time" in rates else None
    print()
    print("| variant | samples/s (median) | range | vs one at a time |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in rates.items():
        ratio = f"{statistics.median(values) / loop:.2f}x" if loop else "-"
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} | {ratio} |")
    reference = next(iter(answers.values()))
    differing = [name for name, outputs in answers.items() if outputs != reference]
    print(f"same answers in every variant: {'yes' if not differing else 'no: ' + ', '.join(differing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
