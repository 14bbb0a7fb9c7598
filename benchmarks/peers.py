"""tuitune against TRL's `SFTTrainer`: the same model, data and settings, in one process.

    (TRL is one of tuitune's dependencies: nothing more to install)
    python benchmarks/peers.py [--model llama-11m] [--steps 40] [--repeats 2]
    python benchmarks/peers.py --variants tuitune-padding,tuitune-packing --model llama-4m   # packing vs padding
    python benchmarks/peers.py --objective dpo ...    # against DPOTrainer (benchmarks/peers_dpo.py)
    python benchmarks/peers.py --objective grpo ...   # against GRPOTrainer (benchmarks/peers_grpo.py)

Every variant trains LoRA (r 8, alpha 16, dropout 0.05, every linear layer but the head) on a
random-initialised model built from an architecture config (`benchmarks/architectures.py`, the
demo tokenizer), from the same saved weights, on the same tokenized samples (an alpaca-style set
with a real-world length mix, `benchmarks/length_mix.py`: prompts masked, loss on the answers),
with the same batch size, max length, steps, learning-rate schedule, seed and precision (fp32 on
a CPU, bf16 on a GPU). TRL's own defaults that differ from tuitune's (gradient checkpointing on,
bf16 on a CPU, lr 2e-5) are set to tuitune's, so only the batching and the loop differ.

Variants (`--variants`, comma-separated; default: trl, trl-packing, tuitune, tuitune-packing):
  trl               SFTTrainer, packing=False: dynamic padding to the batch's longest, random order
  trl-packing       SFTTrainer, packing=True: best-fit-decreasing blocks of max_length, padding-free
  trl-grouped       SFTTrainer, packing=False, train_sampling_strategy="group_by_length" (not
                    TRL's default: what a TRL user gets by asking for tuitune's batching)
  tuitune           tuitune.train() with the default config (packing: auto)
  tuitune-padding   tuitune.train(), packing: false (length-grouped dynamic padding)
  tuitune-packing   tuitune.train(), packing: true (padding-free: one row, restarting positions)

Throughput is trained (non-padding) tokens per second of the training loop (the Trainer's
`train_runtime`: no loading, no tokenizing). The variants alternate within each repeat, so a
machine that slows down mid-run slows them all; the table shows the median and the range. On a
shared machine wall-clock rates swing with other jobs' load, so the table also gives tokens per
CPU-second of the loop (`time.process_time` around `Trainer.train`): with `--threads 1` that is
the work each variant needs, whatever else runs.
The loss check scores every trained adapter on the same 64 held-out samples (mean loss per
answer token): the same objective must reach the same loss within noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = ("trl", "trl-packing", "trl-grouped", "tuitune", "tuitune-padding", "tuitune-packing")
DEFAULT_VARIANTS = ("trl", "trl-packing", "tuitune", "tuitune-packing")
HELD_OUT = 64


@dataclass
class Measured:
    """One variant's repeats."""

    rates: list[float] = field(default_factory=list)  # trained tokens per second
    cpu_rates: list[float] = field(default_factory=list)  # trained tokens per CPU-second of the loop
    tokens_per_step: list[float] = field(default_factory=list)
    held_out_loss: list[float] = field(default_factory=list)
    chose: str = ""  # what tuitune's packing: auto chose

    def median(self) -> float:
        return statistics.median(self.rates)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu_rates)


def _objective_parser() -> argparse.ArgumentParser:
    """`--objective`: sft here; dpo and grpo have their own modules (and options)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--objective", choices=("sft", "dpo", "grpo"), default="sft")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[_objective_parser()]
    )
    parser.add_argument("--model", default="llama-11m", help="an architecture from benchmarks/architectures.py")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=800, help="rows of the length-mix training set")
    parser.add_argument(
        "--data",
        choices=("mix", "sample"),
        default="mix",
        help="mix: the real-world length mix; sample: the bundled sample set (short answers only)",
    )
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=2e-4,
        help="a higher one (1e-3) makes the held-out loss move far enough to compare objectives",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    objective, _ = _objective_parser().parse_known_args(argv)
    if objective.objective == "dpo":
        import peers_dpo

        return peers_dpo.main(argv)
    if objective.objective == "grpo":
        import peers_grpo

        return peers_grpo.main(argv)
    args = parse_args(argv)
    if any(v.startswith("trl") for v in args.variants):
        try:
            import trl  # noqa: F401
        except ImportError:
            print("TRL is not installed: pip install 'trl>=1.16' (or leave the trl variants out)", file=sys.stderr)
            return 2
    home = Path(tempfile.mkdtemp(prefix="tuitune-peers-"))
    os.environ["TUITUNE_HOME"] = str(home)

    import torch
    from transformers import Trainer, set_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    loop_cpu_seconds = time_training_loops(Trainer)

    from architectures import build_model, parameter_count
    from length_mix import write_length_mix

    from tuitune.config import ConfigBuilder, RunConfig
    from tuitune.data import prepare_dataset, sample_dataset_path
    from tuitune.models.loading import load_tokenizer

    cuda = torch.cuda.is_available()
    model_dir = build_model(args.model, home / "model", device="cuda" if cuda else "cpu")
    held_out = write_length_mix(home / "held-out.jsonl", rows=HELD_OUT, seed=1)
    data = write_length_mix(home / "mix.jsonl", rows=args.rows) if args.data == "mix" else sample_dataset_path()

    def config(packing: bool | str, name: str) -> RunConfig:
        return (
            ConfigBuilder()
            .name(name)
            .model(str(model_dir))
            .data(str(data), max_length=args.max_length, validation_split=0, packing=packing)
            .lora(r=8, alpha=16, dropout=0.05)
            .training(
                max_steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                logging_steps=10,
                save_steps=10**6,
                seed=args.seed,
                lr_scheduler="cosine",
                warmup_ratio=0.03,
            )
            .build()
        )

    base = config("auto", "peers")
    tokenizer = load_tokenizer(base.model)
    prepared = prepare_dataset(base.data, tokenizer, batch_size=args.batch_size)
    scored = prepare_dataset(base.data.model_copy(update={"source": str(held_out)}), tokenizer)
    lengths = sorted(prepared.train["length"])
    trained = sum(sum(1 for label in row if label != -100) for row in prepared.train["labels"])
    print(
        f"{args.model} ({parameter_count(args.model) / 1e6:.1f}M parameters), LoRA r8 on every linear layer, "
        f"{args.steps} steps of batch {args.batch_size}, max_length {args.max_length}, lr {args.learning_rate:g}, "
        f"seed {args.seed}; "
        f"torch {torch.__version__}, {'cuda ' + torch.cuda.get_device_name() if cuda else f'cpu x{torch.get_num_threads()}'}",
        flush=True,
    )
    print(
        f"data: {len(lengths)} samples, tokens p10 {lengths[len(lengths) // 10]}, median {lengths[len(lengths) // 2]}, "
        f"p90 {lengths[9 * len(lengths) // 10]}, max {lengths[-1]}; {100 * trained / sum(lengths):.0f}% of tokens are "
        f"answers (trained); {sum(prepared.stats.dropped.values())} dropped",
        flush=True,
    )

    def tuitune_variant(packing: bool | str) -> Callable[[], tuple[float, int, int, Any, str]]:
        def run() -> tuple[float, int, int, Any, str]:
            import tuitune
            from tuitune.store import open_store

            result = tuitune.train(config(packing, f"peers-{packing}"))
            events = [e.message for e in open_store().events(result.run_id)]
            said = next((m for m in events if m.startswith("batching:")), "")
            chose = ("auto: packing" if said.startswith("batching: packing") else "auto: padding") if said else ""
            return result.train_runtime, result.tokens_trained, result.steps_completed, result.weights_dir, chose

        return run

    def trl_variant(packing: bool, grouped: bool = False) -> Callable[[], tuple[float, int, int, Any, str]]:
        def run() -> tuple[float, int, int, Any, str]:
            from peft import LoraConfig
            from trl import SFTConfig, SFTTrainer

            from tuitune.engine.callbacks import CountingCollator
            from tuitune.models.loading import load_model
            from tuitune.models.targets import lora_target_modules

            set_seed(args.seed)
            model = load_model(base.model, for_training=True)
            out = Path(tempfile.mkdtemp(dir=home))
            settings = SFTConfig(
                output_dir=str(out),
                per_device_train_batch_size=args.batch_size,
                max_steps=args.steps,
                learning_rate=args.learning_rate,
                lr_scheduler_type="cosine",
                warmup_steps=0.03,
                weight_decay=0.0,
                max_grad_norm=1.0,
                logging_steps=10,
                save_strategy="no",
                seed=args.seed,
                data_seed=args.seed,
                report_to="none",
                max_length=args.max_length,
                packing=packing,
                # tuitune's settings where TRL's defaults differ: no checkpointing, fp32 on a CPU.
                gradient_checkpointing=False,
                bf16=cuda and torch.cuda.is_bf16_supported(),
                fp16=False,
                dataloader_pin_memory=cuda,
                disable_tqdm=True,
                train_sampling_strategy="group_by_length" if grouped else "random",
            )
            lora = LoraConfig(
                r=8, lora_alpha=16, lora_dropout=0.05, target_modules=lora_target_modules(model), task_type="CAUSAL_LM"
            )
            # The length column is what group_by_length reads; TRL keeps only its model's inputs otherwise.
            train = prepared.train if grouped else prepared.train.remove_columns(["length"])
            trainer = SFTTrainer(
                model=model, args=settings, train_dataset=train, processing_class=tokenizer, peft_config=lora
            )
            counter = CountingCollator(trainer.data_collator)
            trainer.data_collator = counter
            runtime = trainer.train().metrics["train_runtime"]
            weights = out / "adapter"
            trainer.model.save_pretrained(str(weights))
            return runtime, counter.tokens, trainer.state.global_step, weights, ""

        return run

    runners = {
        "trl": trl_variant(False),
        "trl-packing": trl_variant(True),
        "trl-grouped": trl_variant(False, grouped=True),
        "tuitune": tuitune_variant("auto"),
        "tuitune-padding": tuitune_variant(False),
        "tuitune-packing": tuitune_variant(True),
    }
    print(f"held-out loss before training: {held_out_loss(base, None, scored.train):.4f}", flush=True)
    measured = {name: Measured() for name in args.variants}
    for repeat in range(args.repeats):
        for name in args.variants:
            started = time.monotonic()
            runtime, tokens, steps, weights, chose = runners[name]()
            cpu = loop_cpu_seconds.pop()
            loss = held_out_loss(base, weights, scored.train)
            m = measured[name]
            m.rates.append(tokens / runtime)
            m.cpu_rates.append(tokens / cpu)
            m.tokens_per_step.append(tokens / max(steps, 1))
            m.held_out_loss.append(loss)
            m.chose = chose or m.chose
            print(
                f"  repeat {repeat + 1} {name:16s} {tokens / runtime:9,.0f} tokens/s {tokens / cpu:9,.0f} per CPU-s  "
                f"{tokens / max(steps, 1):7,.0f} tokens/step  held-out loss {loss:.4f}  "
                f"({time.monotonic() - started:.0f} s){'  ' + chose if chose else ''}",
                flush=True,
            )
    print_table(measured)
    if args.json:
        args.json.write_text(json.dumps({name: m.__dict__ for name, m in measured.items()}, indent=2))
    return 0


def time_training_loops(trainer_class: Any) -> list[float]:
    """Record the process's CPU seconds inside every `Trainer.train` call (SFTTrainer's too)."""
    seconds: list[float] = []
    train = trainer_class.train

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return train(self, *args, **kwargs)
        finally:
            seconds.append(time.process_time() - started)

    trainer_class.train = timed
    return seconds


def held_out_loss(config: Any, weights: Any, samples: Any) -> float:
    """Mean loss per answer token of the base model plus the adapter in `weights` (None: the base
    model alone), on `samples`."""
    import torch
    from peft import PeftModel

    from tuitune.data.collate import PaddingCollator
    from tuitune.models.loading import load_model

    model = load_model(config.model, for_training=False)
    if weights is not None:
        model = PeftModel.from_pretrained(model, str(weights))
    model.eval()
    collate = PaddingCollator(0)
    total = count = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), 8):
            batch = collate([samples[i] for i in range(start, min(start + 8, len(samples)))])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="sum"
            )
            total += float(loss)
            count += float((labels != -100).sum())
    return total / count


def print_table(measured: dict[str, Measured]) -> None:
    trl_best = max((m.median() for name, m in measured.items() if name.startswith("trl")), default=None)
    print()
    cpu_best = max((m.cpu_median() for name, m in measured.items() if name.startswith("trl")), default=None)
    print(
        "| variant | trained tokens/s (median) | range | vs TRL's best | tokens per CPU-s (median) | range | vs TRL's best | tokens/step | held-out loss |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, m in measured.items():
        ratio = f"{m.median() / trl_best:.2f}x" if trl_best else "-"
        cpu_ratio = f"{m.cpu_median() / cpu_best:.2f}x" if cpu_best else "-"
        loss = statistics.median(m.held_out_loss)
        print(
            f"| {name}{' (' + m.chose + ')' if m.chose else ''} | {m.median():,.0f} | "
            f"{min(m.rates):,.0f}–{max(m.rates):,.0f} | {ratio} | {m.cpu_median():,.0f} | "
            f"{min(m.cpu_rates):,.0f}–{max(m.cpu_rates):,.0f} | {cpu_ratio} | "
            f"{statistics.median(m.tokens_per_step):,.0f} | {loss:.4f} |"
        )
    for name in ("tuitune", "tuitune-padding", "tuitune-packing"):
        if name in measured and "trl" in measured:
            ours, theirs = (
                statistics.median(measured[name].held_out_loss),
                statistics.median(measured["trl"].held_out_loss),
            )
            print(f"held-out loss {name} vs trl: {ours:.4f} vs {theirs:.4f} ({100 * (ours - theirs) / theirs:+.1f}%)")


if __name__ == "__main__":
    sys.exit(main())
