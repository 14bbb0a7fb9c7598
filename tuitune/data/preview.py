"""Formatted samples as the model will see them, split into the prompt and the trained part.

The segments come from the token labels themselves (not from the template), so a preview shows
exactly what carries a loss, truncation and special tokens included. Faces render them: the CLI
prints the prompt dim and the trained part bold green.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuitune.data.examples import Example
from tuitune.data.preference import PreferencePreview
from tuitune.data.templates import Segment, Template
from tuitune.data.tokenize import IGNORE_INDEX, TokenizedExample, sequences, tokenize_whole


@dataclass
class PreviewSample:
    """One formatted sample: its segments in order, and how many tokens it has and trains on."""

    segments: list[Segment]
    tokens: int
    trained_tokens: int
    full_length: int
    dropped: str | None = None
    windows: int = 1  # a long text trains as this many windows; the preview shows the first
    # For a preference objective: the row with both its answers (the segments are the prompt and
    # the chosen answer, or the labelled completion, or the prompt alone for grpo).
    pair: PreferencePreview | None = None

    @property
    def truncated(self) -> bool:
        return self.full_length > self.tokens

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [{"text": s.text, "trained": s.trained} for s in self.segments],
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "truncated": self.truncated,
            "dropped": self.dropped,
            "windows": self.windows,
            **({"pair": self.pair.to_dict()} if self.pair is not None else {}),
        }


def preference_sample(pair: PreferencePreview) -> PreviewSample:
    """A preference row as a preview: the prompt untrained, then the answer it learns to prefer."""
    answer = pair.chosen if pair.label is None else pair.completion
    answer_tokens = pair.answer_tokens[0] if pair.answer_tokens else 0
    segments = [Segment(pair.prompt, False), *([Segment(answer, True)] if answer else [])]
    tokens = pair.prompt_tokens + answer_tokens
    return PreviewSample(segments, tokens, answer_tokens, tokens, pair=pair)


def preview_example(
    example: Example,
    template: Template,
    tokenizer: Any,
    *,
    max_length: int,
    train_on_responses_only: bool = True,
    window_conversations: bool = False,
    window_stride: int = 0,
) -> PreviewSample:
    whole = tokenize_whole(example, template, tokenizer, train_on_responses_only=train_on_responses_only)
    pieces = sequences(
        whole, example, max_length=max_length, window_conversations=window_conversations, window_stride=window_stride
    )
    item = pieces[0]
    dropped = None
    if not any(piece.trained_tokens for piece in pieces):
        dropped = f"response cut off by max_length {max_length}" if item.truncated else "nothing to train on"
    return PreviewSample(
        label_segments(item, tokenizer),
        len(item.input_ids),
        item.trained_tokens,
        item.full_length,
        dropped,
        windows=len(pieces),
    )


def label_segments(item: TokenizedExample, tokenizer: Any) -> list[Segment]:
    """Consecutive tokens grouped by whether they are trained, each group decoded to text.

    Each group's text is the growth of the decoded prefix, so the groups concatenate to exactly the
    decoded sequence (decoding a group alone can lose or add a space at its edge).
    """
    segments: list[Segment] = []
    decoded_before = ""
    start = 0
    ids = item.input_ids
    for end in range(1, len(ids) + 1):
        if end < len(ids) and (item.labels[end] != IGNORE_INDEX) == (item.labels[start] != IGNORE_INDEX):
            continue
        decoded = tokenizer.decode(ids[:end], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        text = (
            decoded[len(decoded_before) :] if decoded.startswith(decoded_before) else tokenizer.decode(ids[start:end])
        )
        segments.append(Segment(text, item.labels[start] != IGNORE_INDEX))
        decoded_before, start = decoded, end
    return segments
