"""Token ids and labels for training: loss on the trained segments only, EOS at the end, truncation.

The whole rendered text is tokenized at once and each token is labelled by the characters it came
from (the tokenizer's offset mapping), so the ids are exactly those of the full text (no
boundary artefacts from tokenizing prompt and response apart) and a token that straddles the
prompt/response boundary is trained. Tokenizers without offsets (slow, Python ones) tokenize
segment by segment instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.data.examples import Document, Example
from tuitune.data.templates import Segment, Template
from tuitune.errors import ModelLoadError

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy (and transformers' losses) skip
_BATCH = 512  # texts per call to the fast tokenizer (it tokenizes a batch in parallel)


@dataclass
class TokenizedExample:
    """One training sequence. `full_length` is its length before truncation."""

    input_ids: list[int]
    labels: list[int]
    full_length: int

    @property
    def truncated(self) -> bool:
        return self.full_length > len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass
class TokenizedData:
    """Kept sequences (with the index of the example each came from), and what was dropped and why.

    A long text becomes several sequences (its windows); any other example is one sequence,
    cut at max_length when longer (`truncated`, `cut_tokens`)."""

    examples: list[TokenizedExample] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    full_lengths: list[int] = field(default_factory=list)  # every example, dropped ones included
    windowed: int = 0  # examples longer than max_length trained as several windows
    truncated: int = 0  # examples cut at max_length (the rest of their tokens never trained)
    cut_tokens: int = 0  # tokens lost to those cuts

    @property
    def total_tokens(self) -> int:
        """Tokens of every example, whole: what one epoch would train on if nothing were cut."""
        return sum(self.full_lengths)


def eos_id(tokenizer: Any) -> int:
    token_id = getattr(tokenizer, "eos_token_id", None)
    if token_id is None:
        raise ModelLoadError(
            "The tokenizer has no EOS token, so a trained sequence cannot end: use a tokenizer with one."
        )
    return int(token_id)


def tokenize_examples(
    examples: Sequence[Example],
    template: Template,
    tokenizer: Any,
    *,
    max_length: int,
    train_on_responses_only: bool = True,
    window_conversations: bool = False,
    window_stride: int = 0,
) -> TokenizedData:
    """Tokenize every example; drop (and count) those whose trained part was cut away entirely.

    A text (`Document`) longer than `max_length` is never cut: it trains as consecutive windows,
    each repeating `window_stride` tokens of the one before as context without loss, so every
    token is trained exactly once. So are prompt/completion pairs with `window_conversations`.
    """
    result = TokenizedData()
    for start in range(0, len(examples), _BATCH):
        chunk = examples[start : start + _BATCH]
        rendered = [template.render(example) for example in chunk]
        encoded = encode_segments(rendered, tokenizer, add_special_tokens=template.add_special_tokens)
        for offset, (example, (ids, trained)) in enumerate(zip(chunk, encoded)):
            whole = _finish(ids, trained, tokenizer, example, train_on_responses_only)
            result.full_lengths.append(whole.full_length)
            pieces = sequences(
                whole,
                example,
                max_length=max_length,
                window_conversations=window_conversations,
                window_stride=window_stride,
            )
            if len(pieces) > 1:
                result.windowed += 1
            elif pieces[0].truncated:
                result.truncated += 1
                result.cut_tokens += whole.full_length - max_length
            kept = [piece for piece in pieces if piece.trained_tokens]
            if not kept:
                reason = (
                    f"response cut off by max_length {max_length}" if pieces[0].truncated else "nothing to train on"
                )
                result.dropped[reason] += 1
                continue
            result.examples += kept
            result.indices += [start + offset] * len(kept)
    return result


def windows(whole: TokenizedExample, max_length: int, stride: int = 0) -> list[TokenizedExample]:
    """A long sequence as consecutive windows of at most `max_length` tokens. Each window after the
    first starts with the last `stride` tokens of the one before, as context only (no loss), so the
    trained tokens of the windows are exactly those of the sequence, once each."""
    if not 0 <= stride < max_length:
        raise ValueError(f"the stride must be in [0, {max_length}) (got {stride})")
    step = max_length - stride
    out: list[TokenizedExample] = []
    start = 0
    while True:
        ids = whole.input_ids[start : start + max_length]
        labels = whole.labels[start : start + max_length]
        if start:
            labels = [IGNORE_INDEX] * min(stride, len(labels)) + labels[stride:]
        out.append(TokenizedExample(ids, labels, len(ids)))
        if start + max_length >= len(whole.input_ids):
            return out
        start += step


def _cut(whole: TokenizedExample, max_length: int) -> TokenizedExample:
    return TokenizedExample(whole.input_ids[:max_length], whole.labels[:max_length], whole.full_length)


def tokenize_example(
    example: Example,
    template: Template,
    tokenizer: Any,
    *,
    max_length: int,
    train_on_responses_only: bool = True,
) -> TokenizedExample:
    """One example's ids and labels, cut at `max_length` (kept even when nothing is trained:
    callers decide)."""
    return _cut(
        tokenize_whole(example, template, tokenizer, train_on_responses_only=train_on_responses_only), max_length
    )


def tokenize_whole(
    example: Example, template: Template, tokenizer: Any, *, train_on_responses_only: bool = True
) -> TokenizedExample:
    """One example's ids and labels, uncut."""
    ((ids, trained),) = encode_segments(
        [template.render(example)], tokenizer, add_special_tokens=template.add_special_tokens
    )
    return _finish(ids, trained, tokenizer, example, train_on_responses_only)


def sequences(
    whole: TokenizedExample, example: Example, *, max_length: int, window_conversations: bool, window_stride: int
) -> list[TokenizedExample]:
    """What one example trains as: its windows when it is a long text (or a long pair with
    `window_conversations`), else itself, cut at `max_length`."""
    if whole.full_length > max_length and (isinstance(example, Document) or window_conversations):
        return windows(whole, max_length, window_stride)
    return [_cut(whole, max_length)]


def _finish(
    ids: list[int],
    trained: list[bool],
    tokenizer: Any,
    example: Example,
    train_on_responses_only: bool,
) -> TokenizedExample:
    """The whole sequence, EOS appended, uncut."""
    eos = eos_id(tokenizer)
    if not ids or ids[-1] != eos:
        ids, trained = ids + [eos], trained + [True]
    else:
        trained = trained[:-1] + [True]  # an EOS the tokenizer added itself has no characters
    train_all = isinstance(example, Document) or not train_on_responses_only
    labels = [t if (train_all or flag) else IGNORE_INDEX for t, flag in zip(ids, trained)]
    return TokenizedExample(ids, labels, len(ids))


def encode_segments(
    rendered: list[list[Segment]], tokenizer: Any, *, add_special_tokens: bool
) -> list[tuple[list[int], list[bool]]]:
    """(ids, trained flag per token) for each rendered example."""
    if getattr(tokenizer, "is_fast", False):
        return _encode_with_offsets(rendered, tokenizer, add_special_tokens)
    return [_encode_by_segment(segments, tokenizer, add_special_tokens) for segments in rendered]


def _encode_with_offsets(
    rendered: list[list[Segment]], tokenizer: Any, add_special_tokens: bool
) -> list[tuple[list[int], list[bool]]]:
    texts = ["".join(s.text for s in segments) for segments in rendered]
    encoded = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True, verbose=False)
    out = []
    for segments, ids, offsets in zip(rendered, encoded["input_ids"], encoded["offset_mapping"]):
        spans = list(_trained_spans(segments))
        out.append((list(ids), _flags(offsets, spans)))
    return out


def _trained_spans(segments: Iterable[Segment]) -> Iterable[tuple[int, int]]:
    position = 0
    for segment in segments:
        end = position + len(segment.text)
        if segment.trained:
            yield position, end
        position = end


def _flags(offsets: Sequence[Sequence[int]], spans: list[tuple[int, int]]) -> list[bool]:
    """A token is trained when its characters overlap a trained span; added tokens (no characters) are not."""
    flags = []
    span = 0
    for start, end in offsets:
        while span < len(spans) and spans[span][1] <= start:
            span += 1
        flags.append(end > start and span < len(spans) and start < spans[span][1] and end > spans[span][0])
    return flags


def _special_prefix(tokenizer: Any) -> list[int]:
    """The tokens the tokenizer puts before a text on its own (a BOS, usually), found by encoding a probe."""
    with_special = list(tokenizer.encode("a", add_special_tokens=True))
    plain = list(tokenizer.encode("a", add_special_tokens=False))
    for start in range(len(with_special) - len(plain) + 1):
        if with_special[start : start + len(plain)] == plain:
            return with_special[:start]
    return []


def _encode_by_segment(
    segments: list[Segment], tokenizer: Any, add_special_tokens: bool
) -> tuple[list[int], list[bool]]:
    ids: list[int] = []
    flags: list[bool] = []
    if add_special_tokens:
        prefix = _special_prefix(tokenizer)
        ids += prefix
        flags += [False] * len(prefix)
    for segment in segments:
        piece = tokenizer.encode(segment.text, add_special_tokens=False)
        ids += piece
        flags += [segment.trained] * len(piece)
    return ids, flags
