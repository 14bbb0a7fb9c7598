"""tuitune's GRPO against TRL's `GRPOTrainer`: the same model, prompts, reward and settings.

    python benchmarks/peers.py --objective grpo [--model tuitune/demo] [--steps 8] [--repeats 2]

Both train LoRA (r 8, alpha 16, dropout 0.05, every linear layer but the head) on the bundled
`tuitune/sample-prompts` (prompts asking to repeat a digit, rendered by tuitune's template, the
digit in an `answer` column) with tuitune's built-in `exact_match` reward, the same number of
completions per prompt, completion length, temperature, batch, steps, learning-rate schedule and
seed. TRL's defaults that differ from tuitune's settings (gradient checkpointing on, bf16 even on
a CPU, lr 1e-6, 8 completions of up to 512 tokens) are set to tuitune's, so what differs is what
tuitune adds: its reward recorder, the sampled completions written as events, the store's
callbacks.

Speed is completions (samples) per second of the training loop: sampling, scoring and the update
(`train_runtime`); also per CPU-second. Variants: `trl`, `tuitune` (`--variants`).
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

VARIANTS = ("trl", "tuitune")


@dataclass
class Measured:
    rates: list[float] = field(default_factory=list)  # completions per second
    cpu_rates: list[float] = field(default_factory=list)  # completions per CPU-second
    final_loss: list[float] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)  # the mean reward of the last log
    length: list[float] = field(default_factory=list)  # completions' mean length in tokens, over the logs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", choices=("grpo",), default="grpo")
    parser.add_argument(
        "--model", default="tuitune/demo", help="tuitune/demo, or an architecture from benchmarks/architectures.py"
    )
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8, help="completions per step")
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=32)
    parser.add_argument("--logging-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tuitune-peers-grpo-"))
    os.environ["TUITUNE_HOME"] = str(home)

    import torch
    from peers import time_training_loops
    from transformers import Trainer, set_seed
    from trl import GRPOTrainer

    if args.threads:
        torch.set_num_threads(args.threads)
    loop_cpu_seconds = time_training_loops(Trainer)
    trainers: list[Any] = []
    init = GRPOTrainer.__init__

    def recorded_init(self: Any, *a: Any, **kw: Any) -> None:
        init(self, *a, **kw)
        trainers.append(self)

    GRPOTrainer.__init__ = recorded_init  # type: ignore[method-assign]

    from architectures import build_model, parameter_count

    from tuitune.bundled import DEMO_MODEL, SAMPLE_PROMPTS
    from tuitune.config import ConfigBuilder, RunConfig
    from tuitune.data import prepare_dataset
    from tuitune.models.loading import load_tokenizer
    from tuitune.rewards import load_rewards

    cuda = torch.cuda.is_available()
    if args.model == DEMO_MODEL:
        model_name, size = DEMO_MODEL, "the demo model"
    else:
        model_name = str(build_model(args.model, home / "model", device="cuda" if cuda else "cpu"))
        size = f"{args.model} ({parameter_count(args.model) / 1e6:.1f}M parameters)"

    def config(name: str) -> RunConfig:
        return (
            ConfigBuilder()
            .name(name)
            .model(model_name)
            .objective(
                "grpo",
                rewards=["exact_match"],
                num_generations=args.num_generations,
                max_completion_length=args.max_completion_length,
            )
            .data(SAMPLE_PROMPTS, validation_split=0)
            .lora(r=8, alpha=16, dropout=0.05)
            .training(
                max_steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                logging_steps=args.logging_steps,
                save_steps=10**6,
                seed=args.seed,
                lr_scheduler="cosine",
                warmup_ratio=0.03,
            )
            .build()
        )

    base = config("peers-grpo")
    tokenizer = load_tokenizer(base.model)
    prepared = prepare_dataset(base.data, tokenizer, objective="grpo")
    print(
        f"{size}, LoRA r8, GRPO on {len(prepared.train)} prompts of {SAMPLE_PROMPTS}, exact_match, "
        f"{args.num_generations} completions of up to {args.max_completion_length} tokens per prompt, "
        f"{args.steps} steps of {args.batch_size} completions, lr {args.learning_rate:g}, seed {args.seed}; "
        f"torch {torch.__version__}, {'cuda ' + torch.cuda.get_device_name() if cuda else f'cpu x{torch.get_num_threads()}'}",
        flush=True,
    )

    def tuitune_variant() -> None:
        import tuitune

        tuitune.train(config("peers-grpo-tuitune"))

    def trl_variant() -> None:
        from peft import LoraConfig
        from trl import GRPOConfig

        from tuitune.models.loading import load_model
        from tuitune.models.targets import lora_target_modules

        set_seed(args.seed)
        model = load_model(base.model, for_training=True)
        g = base.grpo
        settings = GRPOConfig(
            output_dir=str(Path(tempfile.mkdtemp(dir=home))),
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps,
            learning_rate=args.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.03,
            weight_decay=0.0,
            max_grad_norm=1.0,
            logging_steps=args.logging_steps,
            save_strategy="no",
            seed=args.seed,
            data_seed=args.seed,
            report_to="none",
            num_generations=g.num_generations,
            max_completion_length=g.max_completion_length,
            temperature=g.temperature,
            beta=g.beta,
            loss_type=g.loss_type,
            # tuitune's settings where TRL's defaults differ: no checkpointing, fp32 on a CPU.
            gradient_checkpointing=False,
            bf16=cuda and torch.cuda.is_bf16_supported(),
            fp16=False,
            dataloader_pin_memory=cuda,
            disable_tqdm=True,
        )
        lora = LoraConfig(
            r=8, lora_alpha=16, lora_dropout=0.05, target_modules=lora_target_modules(model), task_type="CAUSAL_LM"
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward.function for reward in load_rewards(g)],
            args=settings,
            train_dataset=prepared.train,
            processing_class=tokenizer,
            peft_config=lora,
        )
        trainer.train()

    runners: dict[str, Callable[[], None]] = {"trl": trl_variant, "tuitune": tuitune_variant}
    steps, args.steps = args.steps, 1  # one step first, not measured: what runs once
    runners[args.variants[0]]()
    args.steps = steps
    loop_cpu_seconds.clear()
    measured = {name: Measured() for name in args.variants}
    for repeat in range(args.repeats):
        for name in args.variants:
            started = time.monotonic()
            runners[name]()
            trainer = trainers[-1]
            history = trainer.state.log_history
            runtime = next(e["train_runtime"] for e in reversed(history) if "train_runtime" in e)
            logs = [e for e in history if "loss" in e]
            samples = trainer.state.global_step * args.batch_size * trainer.args.gradient_accumulation_steps
            m = measured[name]
            m.rates.append(samples / runtime)
            m.cpu_rates.append(samples / loop_cpu_seconds.pop())
            m.final_loss.append(logs[-1]["loss"])
            m.reward.append(logs[-1].get("reward", float("nan")))
            m.length.append(statistics.fmean(e.get("completions/mean_length", float("nan")) for e in logs))
            print(
                f"  repeat {repeat + 1} {name:8s} {m.rates[-1]:6.2f} samples/s {m.cpu_rates[-1]:6.2f} per CPU-s  "
                f"final loss {m.final_loss[-1]:.6f}  reward {m.reward[-1]:.3f}  completions {m.length[-1]:.1f} tokens  ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    trl = measured.get("trl")
    print()
    print(
        "| variant | samples/s (median) | range | vs trl | samples per CPU-s | vs trl | final loss | mean reward | completion tokens |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, m in measured.items():
        ratio = f"{statistics.median(m.rates) / statistics.median(trl.rates):.2f}x" if trl else "-"
        cpu_ratio = f"{statistics.median(m.cpu_rates) / statistics.median(trl.cpu_rates):.2f}x" if trl else "-"
        print(
            f"| {name} | {statistics.median(m.rates):.2f} | {min(m.rates):.2f}–{max(m.rates):.2f} | {ratio} | "
            f"{statistics.median(m.cpu_rates):.2f} | {cpu_ratio} | {statistics.median(m.final_loss):.6f} | "
            f"{statistics.median(m.reward):.3f} | {statistics.median(m.length):.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({name: m.__dict__ for name, m in measured.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
