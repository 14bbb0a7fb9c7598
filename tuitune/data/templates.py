"""Chat templates: how a conversation becomes one training string, split into prompt and trained parts.

A template renders a conversation as `Segment`s, each either prompt (no loss) or trained (loss).
Tokenization then labels every token by the segment its characters came from, so the mask never
depends on searching for a response marker in token ids.

- `tokenizer`: the tokenizer's own chat template (`apply_chat_template`); the trained parts are
  found by rendering the conversation one turn at a time (see `ChatTemplate`).
- `chatml`: `<|im_start|>role\\n...<|im_end|>`, the default when the tokenizer has no template.
- `alpaca`: `### Instruction:` / `### Input:` / `### Response:`, the default for instruction tuning.
- `llama2`: `[INST] <<SYS>>...<</SYS>> ... [/INST] answer </s>`.
- `plain`: the prompt, a newline, the answer; the default for prompt/completion data, as in TRL.

Every trained sequence ends with the tokenizer's EOS; tokenization appends it where a template does
not already end with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from tuitune.data.examples import Conversation, Document, Example, Message, join_instruction_input
from tuitune.errors import DataError, InvalidConfigError
from tuitune.text.user_text import excerpt

TEMPLATES: tuple[str, ...] = ("chatml", "alpaca", "llama2", "plain")

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
ALPACA_PREAMBLE_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)


@dataclass(frozen=True)
class Segment:
    """A run of text that is either prompt (no loss) or trained (loss)."""

    text: str
    trained: bool


PromptSource = Union[Conversation, Sequence[Message]]


class Template:
    """Renders examples into segments; subclasses render conversations."""

    name: str = "template"
    # Whether tokenizing the rendered text lets the tokenizer add its own special tokens (a BOS):
    # our templates leave that to the tokenizer, a tokenizer's chat template writes its own.
    add_special_tokens: bool = True

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    # Whether the template has a place of its own for tool definitions (a tokenizer's chat
    # template that reads `tools`); elsewhere they are written into the system message.
    tools_in_template: bool = False

    def render(self, example: Example) -> list[Segment]:
        """The whole training text of an example, as prompt and trained segments (EOS not included)."""
        if isinstance(example, Document):
            return [Segment(example.text, True)]
        messages, tools = self._with_tools(list(example.messages), example.tools)
        return _merge(self.segments(messages, example.instruction_input, tools=tools))

    def prompt(self, source: PromptSource) -> str:
        """The text a model continues to answer: the turns before the last response, then the
        assistant's cue. Given a `Conversation`, its last response is left out."""
        tools_text = None
        if isinstance(source, Conversation):
            messages, parts, tools_text = list(source.prompt_messages), source.instruction_input, source.tools
        else:
            messages, parts = list(source), None
        while messages and messages[-1].role == "assistant":
            messages.pop()
        messages, tools = self._with_tools(messages, tools_text)
        return "".join(segment.text for segment in self.segments(messages, parts, tools=tools))

    def _with_tools(
        self, messages: list[Message], tools_text: str | None
    ) -> tuple[list[Message], list[dict[str, Any]] | None]:
        """The messages and the tools to hand the template: the tools themselves where it has a
        place for them, else the messages with the tools written into the system message."""
        if not tools_text:
            return messages, None
        tools = json.loads(tools_text)
        if self.tools_in_template:
            return messages, tools
        return tools_in_system_message(messages, tools), None

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        """Segments of `messages`; when the last message is not a response, end with the assistant's
        cue. `tools` is given only to a template with a place for them (`tools_in_template`)."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


TOOLS_PREAMBLE = "You can call these tools, each described by its JSON schema:"


def tools_in_system_message(messages: list[Message], tools: list[dict[str, Any]]) -> list[Message]:
    """The conversation with its tool definitions written into the system message (a new one
    first when it has none), for templates with no place of their own for tools."""
    described = TOOLS_PREAMBLE + "\n" + "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
    if messages and messages[0].role == "system":
        return [Message("system", f"{messages[0].content}\n\n{described}"), *messages[1:]]
    return [Message("system", described), *messages]


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if not segment.text:
            continue
        if merged and merged[-1].trained == segment.trained:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.trained)
        else:
            merged.append(segment)
    return merged


def _alpaca_parts(
    messages: list[Message], index: int, instruction_input: tuple[str, str] | None
) -> tuple[str, str] | None:
    """The instruction and input of the last user turn, when that turn came from an alpaca row."""
    if instruction_input is None:
        return None
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    if index != last_user or messages[index].content != join_instruction_input(*instruction_input):
        return None
    instruction, input_text = instruction_input
    return (instruction.strip(), input_text.strip()) if instruction.strip() and input_text.strip() else None


class ChatMLTemplate(Template):
    name = "chatml"

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        out: list[Segment] = []
        for i, message in enumerate(messages):
            if message.role == "assistant":
                out += [Segment("<|im_start|>assistant\n", False), Segment(message.content + "<|im_end|>", True)]
            else:
                out.append(Segment(f"<|im_start|>{message.role}\n{message.content}<|im_end|>", False))
            if i < len(messages) - 1 or message.role != "assistant":
                out.append(Segment("\n", False))
        if not messages or messages[-1].role != "assistant":
            out.append(Segment("<|im_start|>assistant\n", False))
        return out


class AlpacaTemplate(Template):
    name = "alpaca"

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        systems = [m.content for m in messages if m.role == "system"]
        has_input = any(_alpaca_parts(messages, i, instruction_input) for i in range(len(messages)))
        preamble = "\n\n".join(systems) if systems else (ALPACA_PREAMBLE_WITH_INPUT if has_input else ALPACA_PREAMBLE)
        out: list[Segment] = [Segment(preamble, False)]
        for i, message in enumerate(messages):
            if message.role == "system":
                continue
            if message.role == "assistant":
                out += [Segment("\n\n### Response:\n", False), Segment(message.content, True)]
                continue
            parts = _alpaca_parts(messages, i, instruction_input)
            if parts:
                text = f"\n\n### Instruction:\n{parts[0]}\n\n### Input:\n{parts[1]}"
            elif message.role == "tool":
                text = f"\n\n### Input:\n{message.content}"
            else:
                text = f"\n\n### Instruction:\n{message.content}"
            out.append(Segment(text, False))
        if not messages or messages[-1].role != "assistant":
            out.append(Segment("\n\n### Response:\n", False))
        return out


class Llama2Template(Template):
    name = "llama2"

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        bos = self.tokenizer.bos_token or ""
        eos = self.tokenizer.eos_token or ""
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        out: list[Segment] = []
        pending: list[str] = []  # user and tool turns waiting for the next [INST] block
        first = True

        def open_block() -> None:
            nonlocal first
            body = "\n\n".join(pending)
            if first and system:
                body = f"<<SYS>>\n{system}\n<</SYS>>\n\n{body}"
            # The tokenizer adds the first BOS itself; later turns start a new sequence by hand.
            out.append(Segment(("" if first else bos) + f"[INST] {body.strip()} [/INST]", False))
            pending.clear()
            first = False

        for message in messages:
            if message.role == "system":
                continue
            if message.role == "assistant":
                open_block()
                out.append(Segment(f" {message.content.strip()} {eos}", True))
            else:
                pending.append(message.content)
        if pending or not messages or messages[-1].role != "assistant":
            open_block()
        return out


class PlainTemplate(Template):
    name = "plain"

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        out: list[Segment] = []
        text_so_far = ""
        for message in messages:
            if message.role == "assistant":
                # A newline between prompt and answer unless the prompt already ends in whitespace;
                # it depends on the prompt only, so generation sees the same cue as training.
                cue = "" if not text_so_far or text_so_far[-1].isspace() else "\n"
                out += [Segment(cue, False), Segment(message.content, True)]
                text_so_far += cue + message.content
            else:
                sep = "" if not text_so_far or text_so_far[-1].isspace() else "\n\n"
                out.append(Segment(sep + message.content, False))
                text_so_far += sep + message.content
        if messages and messages[-1].role != "assistant" and not text_so_far[-1:].isspace():
            out.append(Segment("\n", False))
        return out


class ChatTemplate(Template):
    """The tokenizer's own chat template.

    The trained part of each response is found by rendering the conversation up to the turn before
    it (with the generation cue) and up to the response itself: the difference is what the model
    says, end-of-turn marker included (trailing whitespace is not trained). Templates that rewrite
    earlier turns (some drop old reasoning) break that prefix property; then each response is
    located by its text in the full rendering.
    """

    name = "tokenizer"
    add_special_tokens = False

    def __init__(self, tokenizer: Any) -> None:
        super().__init__(tokenizer)
        # A chat template that reads `tools` renders them its own way (Qwen, Llama 3, Mistral…).
        self.tools_in_template = "tools" in str(getattr(tokenizer, "chat_template", "") or "")
        self._tools: list[dict[str, Any]] | None = None

    def describe(self) -> str:
        return "the tokenizer's chat template"

    def _apply(self, messages: list[Message], generation_cue: bool) -> str:
        try:
            return self.tokenizer.apply_chat_template(
                [m.as_dict() for m in messages],
                tools=self._tools,
                tokenize=False,
                add_generation_prompt=generation_cue,
            )
        except Exception as exc:  # jinja raises TemplateError and friends for unsupported turns
            raise DataError(
                f"The tokenizer's chat template cannot render this conversation ({str(exc).splitlines()[0][:200]}): "
                "choose another template, e.g. --template chatml."
            ) from None

    def segments(
        self,
        messages: list[Message],
        instruction_input: tuple[str, str] | None,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Segment]:
        self._tools = tools  # every rendering of this conversation (prefixes too) sees them
        if not messages or messages[-1].role != "assistant":
            return [Segment(self._apply(messages, True), False)]
        full = self._apply(messages, False)
        spans = self._spans_by_prefix(messages, full) or self._spans_by_search(messages, full)
        out: list[Segment] = []
        cursor = 0
        for start, end in spans:
            out += [Segment(full[cursor:start], False), Segment(full[start:end], True)]
            cursor = end
        tail = full[cursor:]
        if tail.strip():  # whitespace after the last response is not needed; anything else is kept
            out.append(Segment(tail, False))
        return out

    def _spans_by_prefix(self, messages: list[Message], full: str) -> list[tuple[int, int]] | None:
        spans = []
        for i, message in enumerate(messages):
            if message.role != "assistant":
                continue
            try:
                before = self._apply(messages[:i], True) if i else ""
                after = self._apply(messages[: i + 1], False)
            except DataError:
                return None
            if not (after.startswith(before) and full.startswith(after)):
                return None
            end = len(after.rstrip())
            if end <= len(before):
                return None
            spans.append((len(before), end))
        return spans

    def _spans_by_search(self, messages: list[Message], full: str) -> list[tuple[int, int]]:
        spans, cursor = [], 0
        eos = self.tokenizer.eos_token or ""
        for message in messages:
            if message.role != "assistant" or not message.content:
                continue
            start = full.find(message.content, cursor)
            if start < 0:
                raise DataError(
                    "The tokenizer's chat template changes the responses' text, so the trained part cannot "
                    "be found: choose another template, e.g. --template chatml."
                )
            end = start + len(message.content)
            if eos and full.startswith(eos, end):
                end += len(eos)
            spans.append((start, end))
            cursor = end
        return spans


_BY_NAME: dict[str, type[Template]] = {
    "chatml": ChatMLTemplate,
    "alpaca": AlpacaTemplate,
    "llama2": Llama2Template,
    "plain": PlainTemplate,
}


def get_template(name: str, tokenizer: Any, *, format: str | None = None, method: str | None = None) -> Template:
    """The template to use: the one named, else alpaca for instruction tuning, plain for
    prompt/completion data, the tokenizer's own chat template when it has one, else chatml."""
    if name not in ("auto", "tokenizer") and name not in _BY_NAME:
        raise InvalidConfigError(f"Unknown template {excerpt(name)}: use auto, {', '.join(TEMPLATES)}.")
    if name == "tokenizer":
        if not getattr(tokenizer, "chat_template", None):
            raise InvalidConfigError("This tokenizer has no chat template: choose chatml, alpaca, llama2 or plain.")
        return ChatTemplate(tokenizer)
    if name != "auto":
        return _BY_NAME[name](tokenizer)
    if method == "instruction_tuning":
        return AlpacaTemplate(tokenizer)
    if format in ("completion", "text"):
        return PlainTemplate(tokenizer)
    if getattr(tokenizer, "chat_template", None):
        return ChatTemplate(tokenizer)
    return ChatMLTemplate(tokenizer)
