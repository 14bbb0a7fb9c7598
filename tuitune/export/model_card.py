"""The model card (`README.md`) uploaded with an adapter or model: Hub metadata, prose and tables.

Built from what tuitune knows: the run's configuration, its final losses and its latest
evaluations. Local paths are shown by their last part only, so a public card does not reveal the
folder layout of the machine that trained it. No secret ever reaches a card: nothing here sees a
token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tuitune.bundled import SAMPLE_DATASETS, SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.config import DEMO_MODEL, SAMPLE_DATASET

# huggingface_hub's card types are imported when a card is written: importing tuitune.export stays
# light (see its docstring).

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TUITUNE_NAMES = frozenset({DEMO_MODEL, *SAMPLE_DATASETS})

METHOD_NAMES = {
    "lora": "LoRA",
    "qlora": "QLoRA (LoRA on a 4-bit NF4-quantized base)",
    "full_finetuning": "full fine-tuning",
    "instruction_tuning": "instruction tuning (LoRA on alpaca-style data)",
}
METHOD_TAGS = {
    "lora": ["lora"],
    "qlora": ["lora", "qlora"],
    "full_finetuning": ["full-finetuning"],
    "instruction_tuning": ["lora", "instruction-tuning"],
}
METRIC_NAMES = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "bleu": "BLEU",
    "perplexity": "Perplexity",
}


@dataclass
class CardInfo:
    """Everything a card says. `kind` is "adapter" (a peft adapter), "merged", "model" or "gguf"."""

    repo_id: str
    kind: str
    base_model: str | None = None
    method: str | None = None
    dataset: str | None = None
    license: str | None = None
    run_name: str | None = None
    config: dict[str, Any] | None = None
    results: dict[str, Any] = field(default_factory=dict)  # train_loss, eval_loss, ... (None skipped)
    finetuned_scores: dict[str, float] = field(default_factory=dict)
    base_scores: dict[str, float] = field(default_factory=dict)
    evaluation_settings: dict[str, Any] = field(default_factory=dict)
    sample_count: int | None = None
    lora_targets: list[str] | None = None  # what `auto` resolved to, from the adapter's config
    # kind "gguf": the file's name, its quantization and its round trip (`RoundTrip.to_dict()`).
    gguf: dict[str, Any] | None = None


def is_hub_id(name: str | None) -> bool:
    """Whether `name` looks like a Hub repo id (`owner/name`) rather than a local path or a tuitune name."""
    if not name or name in _TUITUNE_NAMES or not _HUB_ID.match(name):
        return False
    return not Path(name).expanduser().exists()


def public_name(name: str | None) -> str | None:
    """A Hub id or tuitune name as is; a local path by its last part."""
    if name is None:
        return None
    if name in _TUITUNE_NAMES or is_hub_id(name):
        return name
    if "/" in name or "\\" in name or Path(name).expanduser().exists():
        return Path(name).name or name
    return name


def model_card(info: CardInfo) -> str:
    """The full `README.md`: YAML metadata between `---` lines, then the prose and tables."""
    from huggingface_hub import ModelCardData

    tags = ["tuitune", *METHOD_TAGS.get(info.method or "", []), "text-generation"]
    if info.kind == "merged":
        tags.insert(len(tags) - 1, "merged")
    if info.kind == "gguf":
        tags[-1:-1] = ["gguf", str((info.gguf or {}).get("quant", "")), "ollama"]
    metadata = ModelCardData(
        base_model=info.base_model if is_hub_id(info.base_model) else None,
        library_name={"adapter": "peft", "gguf": "gguf"}.get(info.kind, "transformers"),
        license=info.license,
        datasets=[info.dataset] if info.dataset and is_hub_id(info.dataset) else None,
        pipeline_tag="text-generation",
        tags=list(dict.fromkeys(tags)),
    )
    parts = [f"---\n{metadata.to_yaml()}\n---", _introduction(info), _usage(info)]
    sections = (_round_trip(info), _training(info), _results(info), _evaluation(info), _configuration(info))
    parts += [section for section in sections if section]
    return "\n\n".join(parts) + "\n"


def _link(name: str | None, kind: str = "") -> str:
    if name is None:
        return "an unnamed base model"
    shown = public_name(name) or name
    if is_hub_id(name):
        prefix = "datasets/" if kind == "dataset" else ""
        return f"[{shown}](https://huggingface.co/{prefix}{name})"
    if name == DEMO_MODEL:
        return "the tuitune demo model (a tiny Llama built locally by tuitune)"
    if name == SAMPLE_DATASET:
        return "the sample instruction dataset bundled with tuitune"
    if name == SAMPLE_PREFERENCE:
        return "the sample preference pairs bundled with tuitune"
    if name == SAMPLE_PROMPTS:
        return "the sample prompts (with answers) bundled with tuitune"
    return f"`{shown}`"


def _introduction(info: CardInfo) -> str:
    title = f"# {info.repo_id.split('/')[-1]}"
    method = METHOD_NAMES.get(info.method or "", info.method or "fine-tuning")
    what = {
        "adapter": f"A {method} adapter for {_link(info.base_model)}",
        "merged": f"{_link(info.base_model)} with a {method} adapter merged into its weights",
        "model": f"A fine-tune of {_link(info.base_model)} ({method})",
        "gguf": f"A fine-tune of {_link(info.base_model)} ({method}) as a "
        f"{str((info.gguf or {}).get('quant', '')).upper()} GGUF file for llama.cpp and Ollama",
    }.get(info.kind, f"A fine-tune of {_link(info.base_model)}")
    dataset = f", trained on {_link(info.dataset, 'dataset')}" if info.dataset else ""
    return f"{title}\n\n{what}{dataset}.\n\nMade with tuitune."


def _usage(info: CardInfo) -> str:
    repo = info.repo_id
    if info.kind == "gguf":
        name = (info.gguf or {}).get("file", "model.gguf")
        return (
            "## How to use\n\n```bash\n"
            f"ollama run hf.co/{repo}          # or: ollama create NAME -f Modelfile, beside {name}\n"
            f"llama-cli -hf {repo} -cnv --jinja\n```\n\n"
            "The Modelfile formats prompts with the chat template the model was trained with and stops at "
            "its end-of-turn tokens."
        )
    if info.kind == "adapter":
        code = (
            "from peft import AutoPeftModelForCausalLM\n"
            "from transformers import AutoTokenizer\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo}")'
        )
    else:
        code = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo}")'
        )
    return f"## How to use\n\n```python\n{code}\n```"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value).replace("|", "\\|")
    return str(value).replace("|", "\\|")


def _round_trip(info: CardInfo) -> str | None:
    check = (info.gguf or {}).get("round_trip")
    if not check:
        return None
    rows: list[tuple[Any, ...]] = [
        ("quantization", check.get("quant")),
        ("held-out examples / positions compared", f"{check.get('prompts')} / {check.get('positions')}"),
        ("max abs logit difference", check.get("max_abs_logit_diff")),
        ("greedy next-token agreement", f"{check.get('greedy_agreement', 0):.1%}"),
        ("token ids of both tokenizers", "equal" if check.get("tokens_equal") else "different"),
        ("required", check.get("bar")),
    ]
    return (
        "## How this file was checked\n\nBefore it was kept, the file was read back with transformers (which "
        "dequantizes it) and compared with the trained model on held-out examples of the training data:\n\n"
        + _table(("check", "result"), rows)
    )


def _training(info: CardInfo) -> str | None:
    config = info.config
    if not config:
        return None
    model, data = config.get("model", {}), config.get("data", {})
    lora, training = config.get("lora", {}), config.get("training", {})
    rows: list[tuple[Any, ...]] = [
        ("method", config.get("method")),
        ("base model", public_name(model.get("name_or_path"))),
        ("dataset", public_name(data.get("source"))),
        ("data format / template", f"{data.get('format')} / {data.get('template')}"),
        ("max sequence length", data.get("max_length")),
        ("epochs", training.get("epochs")),
        ("max steps", training.get("max_steps")),
        (
            "batch size × gradient accumulation",
            f"{training.get('batch_size')} × {training.get('gradient_accumulation_steps')}",
        ),
        ("learning rate", training.get("learning_rate")),
        ("scheduler / warmup ratio", f"{training.get('lr_scheduler')} / {training.get('warmup_ratio')}"),
        ("seed", training.get("seed")),
    ]
    if config.get("method") != "full_finetuning":
        rows += [
            ("LoRA rank / alpha / dropout", f"{lora.get('r')} / {lora.get('alpha')} / {lora.get('dropout')}"),
            ("LoRA target modules", ", ".join(info.lora_targets) if info.lora_targets else lora.get("target_modules")),
        ]
    if model.get("load_in_4bit"):
        rows.append(("quantization", "4-bit NF4 (bitsandbytes)"))
    elif model.get("load_in_8bit"):
        rows.append(("quantization", "8-bit (bitsandbytes)"))
    return "## Training\n\n" + _table(("setting", "value"), rows)


def _results(info: CardInfo) -> str | None:
    labels = {
        "train_loss": "final training loss",
        "eval_loss": "final validation loss",
        "best_eval_loss": "best validation loss",
        "steps": "steps",
        "epochs": "epochs",
        "duration_seconds": "training time (s)",
        "tokens_per_second": "tokens per second",
    }
    rows = [(labels[key], info.results[key]) for key in labels if info.results.get(key) is not None]
    if not rows:
        return None
    return "## Training results\n\n" + _table(("measure", "value"), rows)


def _evaluation(info: CardInfo) -> str | None:
    if not info.finetuned_scores:
        return None
    # Imported here: tuitune.evaluation imports tuitune.export (a run's weights), so importing it at
    # the top would tie the two packages' __init__ modules in a circle.
    from tuitune.evaluation.metrics import improvements

    gains = improvements(info.finetuned_scores, info.base_scores) if info.base_scores else {}
    if info.base_scores:
        header: tuple[str, ...] = ("metric", "base", "fine-tuned", "improvement")
        rows: list[tuple[Any, ...]] = [
            (METRIC_NAMES.get(name, name), info.base_scores.get(name), value, gains.get(name))
            for name, value in info.finetuned_scores.items()
        ]
    else:
        header = ("metric", "fine-tuned")
        rows = [(METRIC_NAMES.get(name, name), value) for name, value in info.finetuned_scores.items()]
    settings = info.evaluation_settings
    dataset = settings.get("dataset")
    source = f"`{public_name(dataset)}`" if dataset else "the run's held-out validation split"
    count = f"{info.sample_count} " if info.sample_count else ""
    prose = (
        f"Scored on {count}examples from {source}, with greedy generation "
        f"(at most {settings.get('max_new_tokens', '?')} new tokens). ROUGE and BLEU are in [0, 1], higher is "
        "better; perplexity is over the response tokens, lower is better."
    )
    if gains:
        prose += " A positive improvement means the fine-tuned model is better."
    return "## Evaluation\n\n" + prose + "\n\n" + _table(header, rows)


def _configuration(info: CardInfo) -> str | None:
    if not info.config:
        return None

    config = json.loads(json.dumps(info.config))  # a copy
    for section, key in (("model", "name_or_path"), ("data", "source")):
        if isinstance(config.get(section), dict) and config[section].get(key):
            config[section][key] = public_name(config[section][key])
    if isinstance(config.get("training"), dict):
        config["training"]["output_dir"] = None  # a folder of the machine that trained it
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip()
    return (
        "## Full configuration\n\nTrain the same way with `tuitune train --config config.yaml`:\n\n"
        f"```yaml\n{text}\n```"
    )
