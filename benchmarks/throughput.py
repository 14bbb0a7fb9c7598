"""Trained-token throughput: the seed tools' padded baseline vs tuitune's engine, in one process.

    python benchmarks/throughput.py [--model tuitune/demo] [--steps 60] [--batch-size 8]

(a) baseline: transformers `Trainer`, every sample padded to max_length 512, random order
    (what the earlier tools did);
(b) tuitune: `tuitune.train()` — length-grouped dynamic padding, store callbacks, heartbeat;
(c) plain `Trainer` with tuitune's collator and sampler but no store callback: (c) vs (b) is the
    cost of reporting into the store.

All three train the same model from the same seed on the same tokenized samples (the bundled
alpaca-style sample set, whose lengths spread from a few to a few hundred tokens) for the same
number of steps; throughput counts real (non-padding) tokens only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tuitune/demo")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="alternate (b) and (c) this many times")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="tuitune-bench-"))
    os.environ.setdefault("TUITUNE_HOME", str(home))

    import torch
    from transformers import Trainer, set_seed

    import tuitune
    from tuitune.config import ConfigBuilder
    from tuitune.data import make_collator, prepare_dataset
    from tuitune.engine.arguments import training_arguments
    from tuitune.engine.callbacks import CountingCollator
    from tuitune.engine.methods import prepare_for_method
    from tuitune.models.loading import load_model, load_tokenizer

    config = (
        ConfigBuilder()
        .model(args.model)
        .data("tuitune/sample", max_length=args.max_length, validation_split=0)
        .training(max_steps=args.steps, batch_size=args.batch_size, logging_steps=10, save_steps=10_000, seed=7)
        .build()
    )
    tokenizer = load_tokenizer(config.model)
    prepared = prepare_dataset(config.data, tokenizer, method=config.method)

    def plain_trainer(collator: Any, grouped: bool) -> tuple[float, int]:
        set_seed(config.training.seed)
        model = prepare_for_method(load_model(config.model, for_training=True), config, lambda *a: None)
        out = Path(tempfile.mkdtemp(dir=home))
        training = training_arguments(config, out, has_validation=False)
        if not grouped:
            training.train_sampling_strategy = "random"
        counter = CountingCollator(collator)
        trainer = Trainer(
            model=model, args=training, data_collator=counter, train_dataset=prepared.train, processing_class=tokenizer
        )
        # The Trainer's own clock, as `tuitune.train` reports it: the training loop, not the setup.
        runtime = trainer.train().metrics["train_runtime"]
        return runtime, counter.tokens

    def pad_to_max(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """The baseline's batches: every sample padded to max_length."""
        length = args.max_length
        ids = torch.full((len(features), length), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), length), -100, dtype=torch.long)
        mask = torch.zeros((len(features), length), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n] = torch.tensor(feature["input_ids"])
            labels[row, :n] = torch.tensor(feature["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    def ours() -> tuple[float, int]:
        result = tuitune.train(config.model_copy(update={"name": "bench"}))
        return result.train_runtime, result.tokens_trained

    print(
        f"model {args.model}, {args.steps} steps of batch {args.batch_size}, max_length {args.max_length}, "
        f"torch {torch.__version__}, {'cuda ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}",
        flush=True,
    )
    baseline_s, baseline_tokens = plain_trainer(pad_to_max, grouped=False)
    rates: dict[str, list[float]] = {"b": [], "c": []}
    for _ in range(args.repeats):
        seconds, tokens = ours()
        rates["b"].append(tokens / seconds)
        seconds, tokens = plain_trainer(make_collator(tokenizer, packing=False), grouped=True)
        rates["c"].append(tokens / seconds)
    a = baseline_tokens / baseline_s
    b = statistics.median(rates["b"])
    c = statistics.median(rates["c"])
    print(f"(a) Trainer, padded to {args.max_length}:        {a:10,.0f} trained tokens/s")
    print(
        f"(b) tuitune engine:                   {b:10,.0f} trained tokens/s   (median of {', '.join(f'{r:,.0f}' for r in rates['b'])})"
    )
    print(
        f"(c) Trainer + tuitune collator, no store: {c:8,.0f} trained tokens/s   (median of {', '.join(f'{r:,.0f}' for r in rates['c'])})"
    )
    print(f"speed-up (b)/(a): {b / a:.2f}x")
    print(f"store overhead 1 - (b)/(c): {100 * (1 - b / c):+.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
