"""Chat models, loaded once in the chat child process and asked many times. Imports torch.

A pane is one model answering: the run's fine-tuned model (base + adapter, or the full model),
its merged model, or its base with no adapter at all. Each says exactly what it loaded, and
formats prompts with the chat template the run trained with (or one the user chose).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.chats.guard import ChatDeviceError, available_devices, check_device, check_fits
from tuitune.chats.settings import Sampling
from tuitune.data.collate import pad_token_id
from tuitune.data.examples import Message
from tuitune.data.templates import get_template
from tuitune.errors import RunStateError, TuituneError
from tuitune.export.weights import run_weights
from tuitune.models.inspect import describe_model
from tuitune.models.loading import load_model, load_tokenizer
from tuitune.models.trained import load_base, load_trained, stop_token_ids
from tuitune.runs.files import run_config, trained_template
from tuitune.store import Run, Store

# torch and transformers are imported by the functions that load and run a model, as elsewhere in
# the package: importing this module (its types, its prompt building) stays light.
FINETUNED, BASE, MERGED = "finetuned", "base", "merged"
WHICH = (FINETUNED, BASE, MERGED)


@dataclass
class Pane:
    """One loaded model and how it formats a conversation."""

    which: str
    model: Any
    tokenizer: Any
    template: Any
    description: str
    device: str
    stop_ids: list[int] = field(default_factory=list)
    context: int | None = None  # the most tokens the model reads, prompt and answer together


@dataclass
class Answer:
    """One generated answer, with what it cost."""

    text: str
    tokens: int
    seconds: float
    first_token_seconds: float | None
    stopped: str  # eos, max_tokens, stop_string, interrupted
    dropped_messages: int = 0  # the oldest messages left out so that the conversation fits the context

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 and self.tokens else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 4),
            "first_token_seconds": None if self.first_token_seconds is None else round(self.first_token_seconds, 4),
            "tokens_per_second": None if self.tokens_per_second is None else round(self.tokens_per_second, 2),
            "stopped": self.stopped,
            "dropped_messages": self.dropped_messages,
        }


class ChatContextError(TuituneError):
    """The prompt and the answer asked for do not fit in the model's context."""


def _merged_folder(run: Run, store: Store) -> Path:
    for artifact in reversed(store.artifacts(run.id)):
        if artifact.kind == "merged" and (Path(artifact.path) / "config.json").is_file():
            return Path(artifact.path)
    raise RunStateError(
        f"Run {run.id} ({run.name}) has no merged model: merge it first (`tuitune merge {run.id} OUT`)."
    )


def open_pane(run: Run, store: Store, which: str, *, device: str | None = None, template: str | None = None) -> Pane:
    """Load `which` model of `run` on `device` (default: the GPU when there is one), after checking it fits."""
    config = run_config(run)
    device = _torch_device(check_device(device))
    base_id = config.model.name_or_path + (f"@{config.model.revision}" if config.model.revision else "")
    info = describe_model(
        config.model.name_or_path, revision=config.model.revision, trust_remote_code=config.model.trust_remote_code
    )
    quantized = config.model.load_in_4bit and device != "cpu"
    if which == BASE:
        check_fits(f"The base model {base_id}", info.parameters, device, quantized_4bit=quantized)
        model, tokenizer = load_base(config, device=device), load_tokenizer(config.model)
        description = f"base {base_id}, no adapter"
    elif which == MERGED:
        folder = _merged_folder(run, store)
        check_fits(f"The merged model {folder}", info.parameters, device)
        settings = config.model.model_copy(
            update={"name_or_path": str(folder), "revision": None, "load_in_4bit": False}
        )
        model, tokenizer = load_model(settings, for_training=False, device=device), load_tokenizer(settings)
        model.eval()
        description = f"merged model {folder}"
    else:
        weights = run_weights(run, action="chat with")
        check_fits(f"Run {run.id}'s model", info.parameters, device, quantized_4bit=quantized)
        model, tokenizer = load_trained(config, weights, device=device)
        description = f"{base_id} + adapter {weights.path}" if weights.is_adapter else f"full model {weights.path}"
    trained, data_format = trained_template(run, store)
    chosen = template or trained or config.data.template
    pane_template = get_template(chosen, tokenizer, format=data_format, method=config.method)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if device == "mps":
        model.to("mps")  # loading places anything but a CUDA GPU on the CPU
    return Pane(
        which,
        model,
        tokenizer,
        pane_template,
        description,
        device,
        stop_token_ids(model, tokenizer, pane_template.name),
        context_length(model, tokenizer),
    )


def _torch_device(device: str | None) -> str:
    """The device torch will use for `device` (checked by `check_device`): what torch sees decides."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= count:
            here = ", ".join(["cpu", *(f"cuda:{number}" for number in range(count))])
            raise ChatDeviceError(f"torch sees no GPU {device} (available to torch: {here}).")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ChatDeviceError(
            f"torch finds no Apple GPU (mps) here (available here: {', '.join(available_devices())})."
        )
    return device


# Tokenizers with no limit of their own say so with a huge number (transformers' VERY_LARGE_INTEGER).
_NO_LIMIT = 10**9


def context_length(model: Any, tokenizer: Any) -> int | None:
    """The most tokens `model` reads at once: its position limit, or its tokenizer's, the smaller."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    limits = [
        value
        for value in (
            next(
                (
                    getattr(config, name)
                    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
                    if isinstance(getattr(config, name, None), int)
                ),
                None,
            ),
            getattr(tokenizer, "model_max_length", None),
        )
        if isinstance(value, int) and 0 < value < _NO_LIMIT
    ]
    return min(limits) if limits else None


def prompt_of(pane: Pane, messages: list[dict[str, str]], sampling: Sampling) -> str:
    """The text the model continues: the conversation in the pane's template, with the assistant's cue."""
    turns = [Message("system", sampling.system_prompt)] if sampling.system_prompt else []
    turns += [Message(message["role"], message["content"]) for message in messages]
    return pane.template.prompt(turns)


def fit_to_context(pane: Pane, messages: list[dict[str, str]], sampling: Sampling) -> tuple[Any, int]:
    """The conversation tokenized for the model, and how many of its oldest messages were left out
    so that it and an answer of `max_new_tokens` fit in the model's context.

    Whole turns go, oldest first (from one user message to the next); the system messages and the
    newest prompt always stay: when those alone do not fit, ChatContextError says what to shorten.
    """

    leading = 0
    while leading < len(messages) and messages[leading].get("role") == "system":
        leading += 1
    system, rest = messages[:leading], messages[leading:]
    # Where a turn starts, up to the newest prompt: the conversation may be cut at each of these.
    users = [index for index, message in enumerate(rest) if message.get("role") == "user"]
    cuts = [0, *(index for index in users if index > 0)]
    encoded: dict[int, Any] = {}  # cut -> the conversation from there, tokenized

    def tokens(cut: int) -> int:
        if cut not in encoded:
            prompt = prompt_of(pane, [*system, *rest[cut:]], sampling)
            encoded[cut] = pane.tokenizer(
                prompt, return_tensors="pt", add_special_tokens=pane.template.add_special_tokens
            )
        return int(encoded[cut]["input_ids"].shape[1])

    budget = None if pane.context is None else pane.context - sampling.max_new_tokens
    if budget is None or tokens(0) <= budget:
        return encoded[0], 0
    # The smallest cut that fits: a binary search, since fewer messages never make a longer prompt.
    low, high, best = 1, len(cuts) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if tokens(cuts[middle]) <= budget:
            best, high = cuts[middle], middle - 1
        else:
            low = middle + 1
    if best is not None:
        return encoded[best], best
    newest = tokens(cuts[-1])
    assert pane.context is not None
    what = "the prompt or the system message" if system or sampling.system_prompt else "the prompt"
    room = pane.context - newest
    if room >= 1:
        raise ChatContextError(
            f"This prompt is {newest:,} tokens and the answer may take {sampling.max_new_tokens:,} more, but the model "
            f"reads at most {pane.context:,} tokens: shorten {what}, or lower the max new tokens to {room:,} or fewer."
        )
    raise ChatContextError(
        f"This prompt is {newest:,} tokens, but the model reads at most {pane.context:,} tokens: shorten {what}."
    )


def generation_config(pane: Pane, sampling: Sampling) -> Any:
    """A fresh generation config: sampling settings shipped with a model never leak into a chat."""
    from transformers import GenerationConfig

    values: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "do_sample": not sampling.greedy,
        "num_beams": 1,
        "repetition_penalty": sampling.repetition_penalty,
        "pad_token_id": pad_token_id(pane.tokenizer),
        "eos_token_id": pane.stop_ids or pane.tokenizer.eos_token_id,
    }
    if not sampling.greedy:
        values.update(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k or None,
            min_p=sampling.min_p or None,
        )
    if sampling.stop:
        values["stop_strings"] = list(sampling.stop)
    return GenerationConfig(**values)


class _Interrupt:
    """A stopping criterion that ends generation when the user asks (escape, Ctrl+C)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def answer(
    pane: Pane,
    messages: list[dict[str, str]],
    sampling: Sampling,
    *,
    interrupt: threading.Event | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Answer:
    """Generate the pane's answer to the conversation, handing text to `on_text` as it comes."""
    import torch
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    interrupt = interrupt or threading.Event()
    encoded, dropped = fit_to_context(pane, messages, sampling)
    encoded = encoded.to(pane.model.device)
    streamer = TextIteratorStreamer(pane.tokenizer, skip_prompt=True, skip_special_tokens=True)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            if not sampling.greedy:
                torch.manual_seed(sampling.seed)
            with torch.inference_mode():
                outcome["ids"] = pane.model.generate(
                    **encoded,
                    generation_config=generation_config(pane, sampling),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Interrupt(interrupt)]),
                    tokenizer=pane.tokenizer if sampling.stop else None,
                )
        except Exception as error:
            outcome["error"] = error
            streamer.end()

    started = time.perf_counter()
    first: float | None = None
    worker = threading.Thread(target=run, name="tuitune-chat-generate", daemon=True)
    worker.start()
    pieces: list[str] = []
    for piece in streamer:
        if not piece:
            continue
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
        if on_text is not None:
            on_text(piece)
    worker.join()
    elapsed = time.perf_counter() - started
    if "error" in outcome:
        raise outcome["error"]
    new_ids = outcome["ids"][0, encoded["input_ids"].shape[1] :]
    text = "".join(pieces)
    stopped = "max_tokens"
    if interrupt.is_set():
        stopped = "interrupted"
    elif sampling.stop and any(stop in text for stop in sampling.stop):
        stopped = "stop_string"
        cut = min(text.find(stop) for stop in sampling.stop if stop in text)
        text = text[:cut]
    elif len(new_ids) and int(new_ids[-1]) in set(pane.stop_ids):
        stopped = "eos"
    return Answer(text.strip(), len(new_ids), elapsed, first, stopped, dropped)
