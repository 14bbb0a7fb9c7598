"""The loss falls on the responses and their EOS, token by token, and nothing is trained on silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.data import IGNORE_INDEX, get_template, tokenize_example, tokenize_examples
from tuitune.data.examples import Conversation, Document, Message
from tuitune.data.tokenize import _encode_by_segment, _encode_with_offsets

ZEPHYR = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def conversation(*pairs: tuple[str, str]) -> Conversation:
    return Conversation(tuple(Message(r, c) for r, c in pairs))


SINGLE = conversation(("user", "Name a colour."), ("assistant", "The sky is blue."))
MULTI = conversation(
    ("system", "Be brief."),
    ("user", "What is 2 + 2?"),
    ("assistant", "It is 4."),
    ("user", "And 3 + 3?"),
    ("assistant", "It is 6."),
)


def expected_tokens(tokenizer, parts: list[tuple[str, bool]]) -> tuple[list[int], list[bool]]:
    """Ids and trained flags built independently: each hand-written part tokenized on its own.

    The demo tokenizer is byte-level BPE whose pre-tokenizer splits at every boundary used here,
    so tokenizing the parts apart gives the same ids as the whole text.
    """
    ids: list[int] = []
    trained: list[bool] = []
    for text, is_trained in parts:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        trained += [is_trained] * len(piece)
    return ids, trained


def assert_token_by_token(tokenizer, item, parts: list[tuple[str, bool]]) -> None:
    ids, trained = expected_tokens(tokenizer, parts)
    assert item.input_ids == ids, "the training ids must be the plain tokenization of the full text"
    assert len(item.labels) == len(ids)
    for position, (token, label, is_trained) in enumerate(zip(ids, item.labels, trained)):
        shown = tokenizer.decode([token])
        if is_trained:
            assert label == token, f"token {position} {shown!r} should be trained"
        else:
            assert label == IGNORE_INDEX, f"token {position} {shown!r} is prompt and must not be trained"


def test_chatml_single_turn_mask(tokenizer) -> None:
    item = tokenize_example(SINGLE, get_template("chatml", tokenizer), tokenizer, max_length=512)
    assert_token_by_token(
        tokenizer,
        item,
        [
            ("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n", False),
            ("The sky is blue.<|im_end|>", True),
            ("<|endoftext|>", True),
        ],
    )
    assert item.input_ids[-1] == tokenizer.eos_token_id


def test_chatml_every_assistant_turn_is_trained(tokenizer) -> None:
    item = tokenize_example(MULTI, get_template("chatml", tokenizer), tokenizer, max_length=512)
    assert_token_by_token(
        tokenizer,
        item,
        [
            (
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
                False,
            ),
            ("It is 4.<|im_end|>", True),
            ("\n<|im_start|>user\nAnd 3 + 3?<|im_end|>\n<|im_start|>assistant\n", False),
            ("It is 6.<|im_end|><|endoftext|>", True),
        ],
    )
    trained_text = tokenizer.decode(
        [token for token, label in zip(item.input_ids, item.labels) if label != IGNORE_INDEX]
    )
    assert trained_text == "It is 4.<|im_end|>It is 6.<|im_end|><|endoftext|>"


def test_alpaca_mask(tokenizer) -> None:
    example = Conversation(
        (Message("user", "Translate.\n\nBonjour"), Message("assistant", "Hello")), ("Translate.", "Bonjour")
    )
    item = tokenize_example(example, get_template("alpaca", tokenizer), tokenizer, max_length=512)
    from tuitune.data.templates import ALPACA_PREAMBLE_WITH_INPUT

    assert_token_by_token(
        tokenizer,
        item,
        [
            (
                f"{ALPACA_PREAMBLE_WITH_INPUT}\n\n### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:\n",
                False,
            ),
            ("Hello", True),
            ("<|endoftext|>", True),
        ],
    )


def test_llama2_mask_does_not_double_the_eos(tokenizer) -> None:
    item = tokenize_example(MULTI, get_template("llama2", tokenizer), tokenizer, max_length=512)
    assert_token_by_token(
        tokenizer,
        item,
        [
            ("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2 + 2? [/INST]", False),
            (" It is 4. <|endoftext|>", True),
            ("<|bos|>[INST] And 3 + 3? [/INST]", False),
            (" It is 6. <|endoftext|>", True),
        ],
    )
    assert item.input_ids.count(tokenizer.eos_token_id) == 2


def test_plain_mask(tokenizer) -> None:
    example = conversation(("user", "The capital of France is"), ("assistant", " Paris."))
    item = tokenize_example(example, get_template("plain", tokenizer), tokenizer, max_length=512)
    assert_token_by_token(
        tokenizer, item, [("The capital of France is\n", False), (" Paris.", True), ("<|endoftext|>", True)]
    )


def test_tokenizer_chat_template_mask(demo_model_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(demo_model_path))
    tokenizer.chat_template = ZEPHYR
    item = tokenize_example(MULTI, get_template("auto", tokenizer), tokenizer, max_length=512)
    assert_token_by_token(
        tokenizer,
        item,
        [
            ("<|system|>\nBe brief.<|endoftext|>\n<|user|>\nWhat is 2 + 2?<|endoftext|>\n<|assistant|>\n", False),
            ("It is 4.<|endoftext|>", True),
            ("\n<|user|>\nAnd 3 + 3?<|endoftext|>\n<|assistant|>\n", False),
            ("It is 6.<|endoftext|>", True),
        ],
    )
    # The template already ends with EOS: it is not added twice.
    assert item.input_ids[-2:] != [tokenizer.eos_token_id] * 2
    # The same ids apply_chat_template itself gives, once the trailing newline is gone.
    rendered = tokenizer.apply_chat_template([m.as_dict() for m in MULTI.messages], tokenize=False).rstrip()
    assert item.input_ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]


def test_text_trains_every_token_and_ends_with_eos(tokenizer) -> None:
    item = tokenize_example(Document("Once upon a time."), get_template("chatml", tokenizer), tokenizer, max_length=512)
    assert item.labels == item.input_ids
    assert item.input_ids == tokenizer("Once upon a time.", add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]


def test_training_on_everything_when_asked(tokenizer) -> None:
    item = tokenize_example(
        SINGLE, get_template("chatml", tokenizer), tokenizer, max_length=512, train_on_responses_only=False
    )
    assert item.labels == item.input_ids


def test_sample_whose_response_is_cut_off_is_dropped_and_counted(tokenizer) -> None:
    long_prompt = conversation(("user", "word " * 60), ("assistant", "Short answer."))
    fits = SINGLE
    result = tokenize_examples([fits, long_prompt, fits], get_template("chatml", tokenizer), tokenizer, max_length=32)
    assert len(result.examples) == 2 and result.indices == [0, 2]
    assert result.dropped == {"response cut off by max_length 32": 1}
    assert len(result.full_lengths) == 3 and result.full_lengths[1] > 32


def test_partly_truncated_response_is_kept_without_eos(tokenizer) -> None:
    long_answer = conversation(
        ("user", "Count."), ("assistant", "one two three four five six seven eight nine ten " * 3)
    )
    template = get_template("chatml", tokenizer)
    full = tokenize_example(long_answer, template, tokenizer, max_length=1024)
    item = tokenize_example(long_answer, template, tokenizer, max_length=24)
    assert item.truncated and len(item.input_ids) == 24 and item.full_length == len(full.input_ids)
    assert item.input_ids == full.input_ids[:24] and item.labels == full.labels[:24]
    assert item.trained_tokens > 0 and item.input_ids[-1] != tokenizer.eos_token_id


def test_segment_by_segment_fallback_agrees_with_offsets(tokenizer) -> None:
    # Tokenizers without offsets (slow ones) label segment by segment; both paths must agree here.
    for name in ("chatml", "alpaca", "llama2", "plain"):
        template = get_template(name, tokenizer)
        for example in (SINGLE, MULTI):
            segments = template.render(example)
            by_offsets = _encode_with_offsets([segments], tokenizer, True)[0]
            assert _encode_by_segment(segments, tokenizer, True) == by_offsets, name


def test_token_straddling_the_boundary_is_trained(tokenizer) -> None:
    # "blue" split as prompt "bl" + response "ue" tokenizes as one token: it must carry the loss,
    # or the model would never learn to produce it.
    from tuitune.data.templates import Segment

    ids, flags = _encode_with_offsets([[Segment("The sky is bl", False), Segment("ue", True)]], tokenizer, False)[0]
    whole = tokenizer("The sky is blue", add_special_tokens=False)["input_ids"]
    assert ids == whole
    assert flags[-1] is True and flags[0] is False


def test_bos_added_by_the_tokenizer_is_never_trained(demo_model_path: Path) -> None:
    # Llama-style tokenizers put a BOS before every text; it belongs to the prompt.
    from tokenizers import processors
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(demo_model_path))
    bos = tokenizer.bos_token_id
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", special_tokens=[("<|bos|>", bos)]
    )
    template = get_template("chatml", tokenizer)
    item = tokenize_example(SINGLE, template, tokenizer, max_length=512)
    assert item.input_ids[0] == bos and item.labels[0] == IGNORE_INDEX
    assert item.input_ids.count(bos) == 1
    assert_token_by_token(
        tokenizer,
        type(item)(item.input_ids[1:], item.labels[1:], item.full_length - 1),
        [
            ("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n", False),
            ("The sky is blue.<|im_end|><|endoftext|>", True),
        ],
    )
    segments = template.render(SINGLE)
    assert _encode_by_segment(segments, tokenizer, True) == _encode_with_offsets([segments], tokenizer, True)[0]
