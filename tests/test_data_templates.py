"""Each template turns a conversation into exactly the text a user would expect, prompt and answer apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.data import get_template
from tuitune.data.examples import Conversation, Document, Message
from tuitune.data.templates import ALPACA_PREAMBLE, ALPACA_PREAMBLE_WITH_INPUT, Segment
from tuitune.errors import DataError, InvalidConfigError

# A Zephyr-style chat template: what a tokenizer with its own template looks like.
ZEPHYR = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


@pytest.fixture()
def chat_tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(demo_model_path))
    tok.chat_template = ZEPHYR
    return tok


def conversation(*pairs: tuple[str, str], parts: tuple[str, str] | None = None) -> Conversation:
    return Conversation(tuple(Message(r, c) for r, c in pairs), parts)


SINGLE = conversation(("user", "Say hi."), ("assistant", "Hi!"))
MULTI = conversation(("system", "Be brief."), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"))


def test_chatml(tokenizer) -> None:
    template = get_template("chatml", tokenizer)
    assert template.render(MULTI) == [
        Segment(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n", False
        ),
        Segment("A1<|im_end|>", True),
        Segment("\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("A2<|im_end|>", True),
    ]
    assert template.prompt(MULTI) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n"
        "A1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n"
    )


def test_alpaca_with_and_without_input(tokenizer) -> None:
    template = get_template("alpaca", tokenizer)
    assert template.render(conversation(("user", "Say hi."), ("assistant", "Hi!"), parts=("Say hi.", ""))) == [
        Segment(f"{ALPACA_PREAMBLE}\n\n### Instruction:\nSay hi.\n\n### Response:\n", False),
        Segment("Hi!", True),
    ]
    with_input = conversation(
        ("user", "Translate.\n\nBonjour"), ("assistant", "Hello"), parts=("Translate.", "Bonjour")
    )
    assert template.render(with_input) == [
        Segment(
            f"{ALPACA_PREAMBLE_WITH_INPUT}\n\n### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:\n",
            False,
        ),
        Segment("Hello", True),
    ]
    assert template.prompt(with_input) == template.render(with_input)[0].text


def test_alpaca_system_replaces_preamble_and_turns_repeat(tokenizer) -> None:
    template = get_template("alpaca", tokenizer)
    assert template.render(MULTI) == [
        Segment("Be brief.\n\n### Instruction:\nQ1\n\n### Response:\n", False),
        Segment("A1", True),
        Segment("\n\n### Instruction:\nQ2\n\n### Response:\n", False),
        Segment("A2", True),
    ]


def test_llama2(tokenizer) -> None:
    template = get_template("llama2", tokenizer)
    assert template.render(MULTI) == [
        Segment("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nQ1 [/INST]", False),
        Segment(" A1 <|endoftext|>", True),
        Segment("<|bos|>[INST] Q2 [/INST]", False),
        Segment(" A2 <|endoftext|>", True),
    ]
    assert template.prompt(SINGLE) == "[INST] Say hi. [/INST]"


def test_plain(tokenizer) -> None:
    template = get_template("plain", tokenizer)
    assert template.render(conversation(("user", "The sky is "), ("assistant", "blue."))) == [
        Segment("The sky is ", False),
        Segment("blue.", True),
    ]
    assert template.render(SINGLE) == [Segment("Say hi.\n", False), Segment("Hi!", True)]
    assert template.prompt(SINGLE) == "Say hi.\n"


def test_text_is_trained_whole_in_every_template(tokenizer) -> None:
    for name in ("chatml", "alpaca", "llama2", "plain"):
        assert get_template(name, tokenizer).render(Document("Some prose.")) == [Segment("Some prose.", True)]


def test_tokenizer_chat_template_splits_turns_by_incremental_rendering(chat_tokenizer) -> None:
    template = get_template("auto", chat_tokenizer)
    assert template.name == "tokenizer"
    assert template.render(MULTI) == [
        Segment("<|system|>\nBe brief.<|endoftext|>\n<|user|>\nQ1<|endoftext|>\n<|assistant|>\n", False),
        Segment("A1<|endoftext|>", True),
        Segment("\n<|user|>\nQ2<|endoftext|>\n<|assistant|>\n", False),
        Segment("A2<|endoftext|>", True),
    ]
    assert template.prompt(SINGLE) == "<|user|>\nSay hi.<|endoftext|>\n<|assistant|>\n"


def test_tokenizer_chat_template_that_rewrites_old_turns_falls_back_to_search(chat_tokenizer) -> None:
    # Like templates that strip reasoning from earlier answers: renders differ by position.
    chat_tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}"
        "{{ '<|assistant|>\\n[old] ' + m['content'] + '\\n' }}"
        "{% else %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
    )
    segments = get_template("auto", chat_tokenizer).render(MULTI)
    assert [s.text for s in segments if s.trained] == ["A1", "A2<|endoftext|>"]
    assert "".join(s.text for s in segments).startswith("<|system|>\nBe brief.")


def test_tokenizer_chat_template_that_fails_says_what_to_do(chat_tokenizer) -> None:
    chat_tokenizer.chat_template = "{{ raise_exception('Conversation roles must alternate') }}"
    with pytest.raises(DataError, match="Conversation roles must alternate.*--template chatml"):
        get_template("auto", chat_tokenizer).render(SINGLE)


def test_auto_template_choice(tokenizer, chat_tokenizer) -> None:
    assert get_template("auto", tokenizer).name == "chatml"  # the demo tokenizer has no template
    assert get_template("auto", chat_tokenizer).name == "tokenizer"
    assert get_template("auto", chat_tokenizer, method="instruction_tuning").name == "alpaca"
    assert get_template("auto", chat_tokenizer, format="completion").name == "plain"
    assert get_template("llama2", chat_tokenizer, method="instruction_tuning").name == "llama2"
    with pytest.raises(InvalidConfigError, match="Unknown template 'vicuna'"):
        get_template("vicuna", tokenizer)
