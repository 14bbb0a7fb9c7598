"""tuitune's DPO against TRL's `DPOTrainer`: the same model, data and settings, in one process.

    python benchmarks/peers.py --objective dpo [--model llama-11m] [--steps 16] [--repeats 2]
    python benchmarks/peers.py --objective dpo --model tuitune/demo --data sample --steps 104

Every variant trains LoRA (r 8, alpha 16, dropout 0.05, every linear layer but the head) with the
sigmoid DPO loss (beta 0.1) on the same model (the demo model, or a random-initialised Llama from
`benchmarks/architectures.py` built from the same saved weights), on the same pairs rendered by
tuitune's template (`prepare_dataset(objective="dpo")`: the prompt as an SFT run formats it, the
answers with the template's end of turn), with the same batch size, max length, steps,
learning-rate schedule, seed and precision. TRL's defaults that differ from tuitune's settings
(gradient checkpointing on, bf16 even on a CPU, lr 1e-6) are set to tuitune's, so only the
batching, the reference's computation and the loop differ.

Data (`--data`): `mix`, pairs built from the length mix (`length_mix.py` at half its median length:
the chosen answer a length-mix answer, the rejected one another row's, so the two lengths are
independent), or
`sample`, the bundled `tuitune/sample-preference` (short answers; a rude one rejected).

Variants (`--variants`, comma-separated; default: trl, tuitune):
  trl                  DPOTrainer: random order, each batch's pairs padded to its longest
                       sequence, the reference (the base with the adapter off) computed each step
  trl-grouped          the same with `train_sampling_strategy="group_by_length"` over each pair's
                       longer sequence (not a TRL default)
  trl-precomputed      the same with `precompute_ref_log_probs=True` (not a TRL default)
  tuitune              `tuitune.train()` with the default config (`preference.reference: auto`)
  tuitune-live         `tuitune.train()`, `preference.reference: live` (the reference each step)
  tuitune-precomputed  `tuitune.train()`, `preference.reference: precomputed`

Speed is pairs (and trained, non-padding, tokens of both sequences) per second of the training
loop plus the reference's pass before training where a variant makes one (TRL's
`_precompute_ref_logps`, timed), so a precomputed reference is charged for its pass. Tokens per
CPU-second of the same span are given too (`time.process_time`). The loss check: the last logged
training loss (the mean of the last `--logging-steps` steps), and the DPO loss and reward
accuracy of every trained adapter on the same 64 held-out pairs against the base model.
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

VARIANTS = ("trl", "trl-grouped", "trl-precomputed", "tuitune", "tuitune-live", "tuitune-precomputed")
DEFAULT_VARIANTS = ("trl", "tuitune")
HELD_OUT = 64
BETA = 0.1
# Half the SFT mix's median: a pair is two sequences, and at the SFT mix's lengths most pairs
# would pass max_length 384 and be cut to the same length, leaving nothing to group.
PAIR_MEDIAN_WORDS = 50


@dataclass
class Measured:
    """One variant's repeats."""

    pair_rates: list[float] = field(default_factory=list)  # pairs per second (loop + reference pass)
    rates: list[float] = field(default_factory=list)  # trained tokens per second
    cpu_rates: list[float] = field(default_factory=list)  # trained tokens per CPU-second
    reference_seconds: list[float] = field(default_factory=list)  # the pass before training, if any
    setup_seconds: list[float] = field(default_factory=list)  # the trainer's construction, that pass included
    tokens_per_step: list[float] = field(default_factory=list)
    final_loss: list[float] = field(default_factory=list)
    held_out_loss: list[float] = field(default_factory=list)
    held_out_accuracy: list[float] = field(default_factory=list)
    reference: str = ""  # what tuitune said its reference was


@dataclass
class Watched:
    """What the patched `DPOTrainer` saw of one run."""

    trainer: Any = None
    counter: Any = None
    reference_seconds: float = 0.0
    reference_cpu: float = 0.0
    setup_seconds: float = 0.0  # the whole construction: tokenizing, hashing the model, the reference pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", choices=("dpo",), default="dpo")
    parser.add_argument(
        "--model", default="llama-11m", help="tuitune/demo, or an architecture from benchmarks/architectures.py"
    )
    parser.add_argument("--data", choices=("mix", "sample"), default="mix")
    parser.add_argument("--rows", type=int, default=64, help="pairs of the mix (64 at batch 8: 8 steps an epoch)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--logging-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    return args


def write_preference_mix(path: Path, rows: int, *, seed: int = 0) -> Path:
    """Pairs from the length mix: each row's answer chosen, the next row's rejected (independent lengths)."""
    from length_mix import length_mix_rows

    from tuitune.data.examples import join_instruction_input

    mix = length_mix_rows(rows, seed=seed, median_words=PAIR_MEDIAN_WORDS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for index, row in enumerate(mix):
            prompt = join_instruction_input(row["instruction"], row.get("input", ""))
            rejected = mix[(index + 1) % len(mix)]["output"]
            handle.write(json.dumps({"prompt": prompt, "chosen": row["output"], "rejected": rejected}) + "\n")
    return path


def watch_dpo_trainer() -> list[Watched]:
    """Patch `DPOTrainer` so every run built after this records its trainer, counts the tokens of
    its training batches, and times its reference pass before training."""
    from trl import DPOTrainer

    from tuitune.engine.callbacks import CountingCollator

    seen: list[Watched] = []
    init, precompute = DPOTrainer.__init__, DPOTrainer._precompute_ref_logps

    def patched_init(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(Watched())
        started = time.monotonic()
        init(self, *args, **kwargs)
        seen[-1].setup_seconds = time.monotonic() - started
        self.data_collator = seen[-1].counter = CountingCollator(self.data_collator)  # after the reference pass
        seen[-1].trainer = self

    def timed_precompute(self: Any, *args: Any, **kwargs: Any) -> Any:
        started, cpu = time.monotonic(), time.process_time()
        try:
            return precompute(self, *args, **kwargs)
        finally:
            seen[-1].reference_seconds += time.monotonic() - started
            seen[-1].reference_cpu += time.process_time() - cpu

    DPOTrainer.__init__ = patched_init  # type: ignore[method-assign]
    DPOTrainer._precompute_ref_logps = timed_precompute  # type: ignore[method-assign]
    return seen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tuitune-peers-dpo-"))
    os.environ["TUITUNE_HOME"] = str(home)

    import torch
    from peers import time_training_loops
    from transformers import Trainer, set_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    loop_cpu_seconds = time_training_loops(Trainer)
    seen = watch_dpo_trainer()

    from architectures import build_model, parameter_count

    from tuitune.bundled import DEMO_MODEL, SAMPLE_PREFERENCE
    from tuitune.config import ConfigBuilder, RunConfig
    from tuitune.data import prepare_dataset
    from tuitune.models.loading import load_tokenizer

    cuda = torch.cuda.is_available()
    if args.model == DEMO_MODEL:
        model_name, size = DEMO_MODEL, "the demo model"
    else:
        model_name = str(build_model(args.model, home / "model", device="cuda" if cuda else "cpu"))
        size = f"{args.model} ({parameter_count(args.model) / 1e6:.1f}M parameters)"
    if args.data == "mix":
        data = str(write_preference_mix(home / "pairs.jsonl", args.rows))
        held_out_source = str(write_preference_mix(home / "held-out.jsonl", HELD_OUT, seed=1))
    else:
        data = SAMPLE_PREFERENCE
        held_out_source = SAMPLE_PREFERENCE  # the pairs are alike; the metric only has to be the same for all

    def config(name: str, reference: str = "auto") -> RunConfig:
        return (
            ConfigBuilder()
            .name(name)
            .model(model_name)
            .objective("dpo", beta=BETA, reference=reference)
            .data(data, max_length=args.max_length, validation_split=0)
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

    base = config("peers-dpo")
    tokenizer = load_tokenizer(base.model)
    prepared = prepare_dataset(base.data, tokenizer, objective="dpo")
    held_out_data = base.data.model_copy(update={"source": held_out_source})
    held_out = prepare_dataset(held_out_data, tokenizer, objective="dpo").train.select(range(HELD_OUT))
    pairs = tokenize_pairs(prepared.train, tokenizer, args.max_length)
    longer = sorted(len(p) + max(len(c), len(r)) for p, c, r in pairs)
    print(
        f"{size}, LoRA r8 on every linear layer, DPO sigmoid beta {BETA}, {args.steps} steps of batch "
        f"{args.batch_size} ({args.steps * args.batch_size / len(pairs):.1f} epochs of {len(pairs)} pairs), "
        f"max_length {args.max_length}, lr {args.learning_rate:g}, seed {args.seed}; torch {torch.__version__}, "
        f"{'cuda ' + torch.cuda.get_device_name() if cuda else f'cpu x{torch.get_num_threads()}'}",
        flush=True,
    )
    print(
        f"data: {args.data}; a pair's longer sequence p10 {longer[len(longer) // 10]}, median "
        f"{longer[len(longer) // 2]}, p90 {longer[9 * len(longer) // 10]}, max {longer[-1]} tokens",
        flush=True,
    )

    def tuitune_variant(reference: str) -> Callable[[], tuple[Any, str]]:
        def run() -> tuple[Any, str]:
            import tuitune
            from tuitune.store import open_store

            result = tuitune.train(config(f"peers-dpo-{reference}", reference))
            events = [e.message for e in open_store().events(result.run_id)]
            said = next((m for m in events if m.startswith("reference:")), "")
            return result.weights_dir, said.removeprefix("reference: ").split(" (")[0]

        return run

    def trl_variant(*, grouped: bool = False, precomputed: bool = False) -> Callable[[], tuple[Any, str]]:
        def run() -> tuple[Any, str]:
            from datasets import Dataset
            from peft import LoraConfig
            from trl import DPOConfig, DPOTrainer

            from tuitune.models.loading import load_model
            from tuitune.models.targets import lora_target_modules

            set_seed(args.seed)
            model = load_model(base.model, for_training=True)
            out = Path(tempfile.mkdtemp(dir=home))
            settings = DPOConfig(
                output_dir=str(out),
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
                max_length=args.max_length,
                beta=BETA,
                # tuitune's settings where TRL's defaults differ: no checkpointing, fp32 on a CPU.
                gradient_checkpointing=False,
                bf16=cuda and torch.cuda.is_bf16_supported(),
                fp16=False,
                dataloader_pin_memory=cuda,
                disable_tqdm=True,
                precompute_ref_log_probs=precomputed,
                train_sampling_strategy="group_by_length" if grouped else "random",
                # The length column is what group_by_length reads; TRL keeps only its inputs otherwise.
                remove_unused_columns=not grouped,
            )
            lora = LoraConfig(
                r=8, lora_alpha=16, lora_dropout=0.05, target_modules=lora_target_modules(model), task_type="CAUSAL_LM"
            )
            # A copy with a fresh fingerprint: TRL caches a precomputed reference by the data's
            # fingerprint and the model's hash, which a second run of the same variant would reuse.
            pairs = Dataset.from_dict(prepared.train.to_dict())
            trainer = DPOTrainer(
                model=model, args=settings, train_dataset=pairs, processing_class=tokenizer, peft_config=lora
            )
            if grouped:
                trainer.train_dataset = with_lengths(trainer.train_dataset, args.max_length)
            trainer.train()
            weights = out / "adapter"
            trainer.model.save_pretrained(str(weights))
            return weights, ""

        return run

    runners = {
        "trl": trl_variant(),
        "trl-grouped": trl_variant(grouped=True),
        "trl-precomputed": trl_variant(precomputed=True),
        "tuitune": tuitune_variant("auto"),
        "tuitune-live": tuitune_variant("live"),
        "tuitune-precomputed": tuitune_variant("precomputed"),
    }
    scored = tokenize_pairs(held_out, tokenizer, args.max_length)
    measured = {name: Measured() for name in args.variants}
    # A short run first, not measured, so the first variant does not pay for what runs once
    # (imports, the allocator's first growth).
    steps, args.steps = args.steps, 2
    runners[args.variants[0]]()
    args.steps = steps
    for repeat in range(args.repeats):
        for name in args.variants:
            started = time.monotonic()
            weights, reference = runners[name]()
            watched = seen[-1]
            trainer = watched.trainer
            runtime = next(e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e)
            losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
            cpu = loop_cpu_seconds.pop() + watched.reference_cpu
            seconds = runtime + watched.reference_seconds
            steps = trainer.state.global_step
            tokens = watched.counter.tokens
            loss, accuracy = held_out_dpo(base, weights, scored)
            m = measured[name]
            m.pair_rates.append(steps * args.batch_size / seconds)
            m.rates.append(tokens / seconds)
            m.cpu_rates.append(tokens / cpu)
            m.reference_seconds.append(watched.reference_seconds)
            m.setup_seconds.append(watched.setup_seconds)
            m.tokens_per_step.append(tokens / max(steps, 1))
            m.final_loss.append(losses[-1])
            m.held_out_loss.append(loss)
            m.held_out_accuracy.append(accuracy)
            m.reference = reference or m.reference
            print(
                f"  repeat {repeat + 1} {name:19s} {m.pair_rates[-1]:6.2f} pairs/s {m.rates[-1]:8,.0f} tokens/s "
                f"{m.cpu_rates[-1]:8,.0f} per CPU-s  reference pass {watched.reference_seconds:5.1f} s "
                f"(setup {watched.setup_seconds:5.1f} s)  "
                f"final loss {losses[-1]:.6f}  held-out {loss:.4f} ({100 * accuracy:.0f}%)  "
                f"({time.monotonic() - started:.0f} s){'  ' + reference if reference else ''}",
                flush=True,
            )
    print_table(measured)
    if args.json:
        args.json.write_text(json.dumps({name: m.__dict__ for name, m in measured.items()}, indent=2))
    return 0


def with_lengths(dataset: Any, max_length: int) -> Any:
    """A `length` column: a pair's longer sequence, as its batch is padded to (TRL truncates at max_length)."""
    return dataset.map(
        lambda row: {
            "length": min(max_length, len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"])))
        }
    )


def tokenize_pairs(rows: Any, tokenizer: Any, max_length: int) -> list[tuple[list[int], list[int], list[int]]]:
    """(prompt, chosen, rejected) token ids as `DPOTrainer` makes them (an EOS after each answer,
    the completion from where prompt and prompt + answer diverge), the sequence cut at max_length."""
    eos = tokenizer.eos_token
    out = []
    for row in rows:
        prompt = tokenizer(row["prompt"])["input_ids"]
        answers = []
        for answer in (row["chosen"], row["rejected"]):
            ids = tokenizer(row["prompt"] + (answer if answer.endswith(eos) else answer + eos))["input_ids"]
            answers.append(ids)
        start = min(_common_prefix(prompt, ids) for ids in answers)
        chosen, rejected = (ids[start:max_length] for ids in answers)
        out.append((prompt[:start], chosen, rejected))
    return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def held_out_dpo(config: Any, weights: Any, pairs: list[tuple[list[int], list[int], list[int]]]) -> tuple[float, float]:
    """The sigmoid DPO loss and the reward accuracy of the adapter in `weights` on `pairs`, against
    the base model (the adapter off), one pair at a time (no padding)."""
    import torch
    from peft import PeftModel

    from tuitune.models.loading import load_model

    model = PeftModel.from_pretrained(load_model(config.model, for_training=False), str(weights))
    model.eval()

    def logp(prompt: list[int], answer: list[int]) -> float:
        ids = torch.tensor([prompt + answer], device=model.device)
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
        return float(torch.log_softmax(logits, -1).gather(-1, ids[0, len(prompt) :, None]).sum())

    losses, right = [], 0
    with torch.inference_mode():
        for prompt, chosen, rejected in pairs:
            policy = logp(prompt, chosen) - logp(prompt, rejected)
            with model.disable_adapter():
                reference = logp(prompt, chosen) - logp(prompt, rejected)
            margin = BETA * (policy - reference)
            losses.append(float(-torch.nn.functional.logsigmoid(torch.tensor(margin))))
            right += margin > 0
    return statistics.fmean(losses), right / len(pairs)


def print_table(measured: dict[str, Measured]) -> None:
    trl = measured.get("trl")
    print()
    print(
        "| variant | pairs/s (median) | range | vs trl | trained tokens/s | tokens per CPU-s | vs trl | "
        "reference pass | setup | tokens/step | final loss | held-out loss | held-out accuracy |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, m in measured.items():
        ratio = f"{statistics.median(m.pair_rates) / statistics.median(trl.pair_rates):.2f}x" if trl else "-"
        cpu_ratio = f"{statistics.median(m.cpu_rates) / statistics.median(trl.cpu_rates):.2f}x" if trl else "-"
        print(
            f"| {name}{' (' + m.reference + ')' if m.reference else ''} | {statistics.median(m.pair_rates):.2f} | "
            f"{min(m.pair_rates):.2f}–{max(m.pair_rates):.2f} | {ratio} | {statistics.median(m.rates):,.0f} | "
            f"{statistics.median(m.cpu_rates):,.0f} | {cpu_ratio} | {statistics.median(m.reference_seconds):.1f} s | "
            f"{statistics.median(m.setup_seconds):.1f} s | "
            f"{statistics.median(m.tokens_per_step):,.0f} | {statistics.median(m.final_loss):.6f} | "
            f"{statistics.median(m.held_out_loss):.4f} | {100 * statistics.median(m.held_out_accuracy):.0f}% |"
        )
    if trl:
        theirs = statistics.median(trl.final_loss)
        for name, m in measured.items():
            if name != "trl":
                ours = statistics.median(m.final_loss)
                print(f"final loss {name} vs trl: {ours:.6f} vs {theirs:.6f} (difference {ours - theirs:+.2e})")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
