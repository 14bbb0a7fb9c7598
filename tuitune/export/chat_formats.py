"""tuitune's chat templates written for the tools that serve an exported model.

A model answers well only when it is prompted exactly as it was trained. llama.cpp and vLLM build
prompts with a Hugging Face-style Jinja chat template, Ollama with a Go text/template in the
Modelfile; both are written here from the same rules as `tuitune.data.templates`, so a served
model sees the very text `Template.prompt()` gave it in training (the tests render all three).

- `jinja_template`: for vLLM (which adds no special tokens to a chat prompt, so the template writes
  the BOS: `with_bos=True`) and for the GGUF (llama.cpp adds the BOS itself: `with_bos=False`).
- `go_template`: for Ollama's Modelfile, which adds the BOS itself.
- `stop_tokens`: what ends an answer.
- `same_as`: whether a tokenizer's own Jinja template formats prompts as one of ours does.

Importing this module is light: jinja2 loads when a template is rendered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from tuitune.data.examples import Message
from tuitune.data.templates import ALPACA_PREAMBLE, TEMPLATES, TOOLS_PREAMBLE, get_template

CHATML_END = "<|im_end|>"


def _check(name: str) -> None:
    if name not in TEMPLATES:
        raise ValueError(f"No chat format for the template {name!r}: use one of {', '.join(TEMPLATES)}.")


# --- Jinja (llama.cpp, vLLM) --------------------------------------------------------------------
def _lit(text: str) -> str:
    """A Jinja string literal. Jinja decodes literals as Python's unicode-escape, so escaping the
    backslash, the quote and the line breaks keeps any text (tokens included) as it is."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


# The tools a request gives are written into the system message, as training did for these
# templates (`tuitune.data.templates.tools_in_system_message`); transformers' `tojson` is
# json.dumps(ensure_ascii=False), as there.
_JINJA_TOOLS = f"""
{{%- if tools %}}
{{%- set described = {_lit(TOOLS_PREAMBLE + chr(10))} + (tools | map('tojson') | join('\\n')) %}}
{{%- if messages and messages[0]['role'] == 'system' %}}
{{%- set messages = [{{'role': 'system', 'content': messages[0]['content'] + '\\n\\n' + described}}] + messages[1:] %}}
{{%- else %}}
{{%- set messages = [{{'role': 'system', 'content': described}}] + messages %}}
{{%- endif %}}
{{%- endif %}}"""

# All system messages joined by blank lines, and whether there were any (an empty one counts).
_JINJA_SYSTEM = """
{%- set ns = namespace(system='', found=false, body='', pending=false, first=true) %}
{%- for message in messages %}
{%- if message['role'] == 'system' %}
{%- if ns.found %}{%- set ns.system = ns.system + '\\n\\n' %}{%- endif %}
{%- set ns.system = ns.system + message['content'] %}
{%- set ns.found = true %}
{%- endif %}
{%- endfor %}"""

_CUE_WANTED = "add_generation_prompt and (not messages or messages[-1]['role'] != 'assistant')"
_ENDS_IN_ANSWER = "not add_generation_prompt and messages and messages[-1]['role'] == 'assistant'"


def _jinja_body(name: str, bos: str, eos: str) -> str:
    # Every tag trims the whitespace before it ({%- / {{-), so only the string expressions write.
    if name == "chatml":
        # An answer closes with <|im_end|>; training's EOS follows it unless it is that token.
        close = (
            ""
            if not eos or CHATML_END.endswith(eos)
            else f"{{%- if {_ENDS_IN_ANSWER} %}}{{{{- {_lit(eos)} }}}}{{%- endif %}}"
        )
        return f"""
{{%- for message in messages %}}
{{{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}}}
{{%- if not loop.last or message['role'] != 'assistant' %}}{{{{- '\\n' }}}}{{%- endif %}}
{{%- endfor %}}
{{%- if {_CUE_WANTED} %}}{{{{- '<|im_start|>assistant\\n' }}}}{{%- endif %}}
{close}"""
    close = (
        f"{{%- if {_ENDS_IN_ANSWER} and messages[-1]['content'][-{len(eos)}:] != {_lit(eos)} %}}"
        f"{{{{- {_lit(eos)} }}}}{{%- endif %}}"
        if eos
        else ""
    )
    if name == "alpaca":
        return f"""{_JINJA_SYSTEM}
{{{{- ns.system if ns.found else {_lit(ALPACA_PREAMBLE)} }}}}
{{%- for message in messages %}}
{{%- if message['role'] == 'assistant' %}}{{{{- '\\n\\n### Response:\\n' + message['content'] }}}}
{{%- elif message['role'] == 'tool' %}}{{{{- '\\n\\n### Input:\\n' + message['content'] }}}}
{{%- elif message['role'] != 'system' %}}{{{{- '\\n\\n### Instruction:\\n' + message['content'] }}}}
{{%- endif %}}
{{%- endfor %}}
{{%- if {_CUE_WANTED} %}}{{{{- '\\n\\n### Response:\\n' }}}}{{%- endif %}}
{close}"""
    if name == "llama2":
        # One [INST] block for the user and tool turns before each answer; the first holds the
        # system prompt and has no BOS of its own (the tokenizer adds it), later ones do. The
        # block is the answer's cue, so it is written with or without add_generation_prompt.
        open_block = f"""
{{%- set body = ns.body %}}
{{%- if ns.first and ns.system %}}{{%- set body = '<<SYS>>\\n' + ns.system + '\\n<</SYS>>\\n\\n' + body %}}{{%- endif %}}
{{{{- ('' if ns.first else {_lit(bos)}) + '[INST] ' + (body | trim) + ' [/INST]' }}}}
{{%- set ns.body = '' %}}{{%- set ns.pending = false %}}{{%- set ns.first = false %}}"""
        return f"""{_JINJA_SYSTEM}
{{%- for message in messages %}}
{{%- if message['role'] == 'assistant' %}}{open_block}
{{{{- ' ' + (message['content'] | trim) + ' ' + {_lit(eos)} }}}}
{{%- elif message['role'] != 'system' %}}
{{%- if ns.pending %}}{{%- set ns.body = ns.body + '\\n\\n' + message['content'] %}}{{%- else %}}{{%- set ns.body = message['content'] %}}{{%- endif %}}
{{%- set ns.pending = true %}}
{{%- endif %}}
{{%- endfor %}}
{{%- if ns.pending or not messages or messages[-1]['role'] != 'assistant' %}}{open_block}
{{%- endif %}}"""
    # plain: turns are separated by a blank line, an answer by a newline, unless the text so far
    # ends in whitespace; `ns.last` is its last character ('' while empty), and
    # `(c | trim) == ''` is Python's "empty or whitespace", as in the template.
    return f"""
{{%- set ns = namespace(last='') %}}
{{%- for message in messages %}}
{{%- set at_space = (ns.last | trim) == '' %}}
{{%- if message['role'] == 'assistant' %}}{{%- set piece = ('' if at_space else '\\n') + message['content'] %}}
{{%- else %}}{{%- set piece = ('' if at_space else '\\n\\n') + message['content'] %}}
{{%- endif %}}
{{{{- piece }}}}
{{%- if piece %}}{{%- set ns.last = piece[-1:] %}}{{%- endif %}}
{{%- endfor %}}
{{%- if add_generation_prompt and messages and messages[-1]['role'] != 'assistant' and (ns.last == '' or (ns.last | trim) != '') %}}{{{{- '\\n' }}}}{{%- endif %}}
{close}"""


def jinja_template(name: str, *, bos_token: str, eos_token: str, with_bos: bool) -> str:
    """A Hugging Face-style chat template (reading `messages`, `add_generation_prompt`, `tools`)
    that formats prompts as tuitune's template `name` does.

    Rendered with `add_generation_prompt=True`, messages that end in a turn other than an answer
    give exactly `get_template(name, tokenizer).prompt(messages)`, after `bos_token` when
    `with_bos`. Without it, a conversation ending in an answer renders as it was trained, the
    EOS that tokenization appends included. The tokens are written into the template, so it
    needs no `bos_token` or `eos_token` from the serving tool.
    """
    _check(name)
    start = f"{{{{- {_lit(bos_token)} }}}}" if with_bos and bos_token else ""
    return (start + _JINJA_TOOLS + _jinja_body(name, bos_token, eos_token)).strip() + "\n"


def render_jinja(
    chat_template: str,
    messages: Sequence[Message],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
    tools: list[dict[str, Any]] | None = None,
) -> str:
    """Render a chat template as transformers does (`_compile_jinja_template` in
    transformers.utils.chat_template_utils: a sandbox that keeps no block's newline, the same
    `tojson`), without importing transformers."""
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
    ) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(chat_template).render(
        messages=[m.as_dict() for m in messages],
        tools=tools,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
    )


# --- Go text/template (Ollama) ------------------------------------------------------------------
def _go_text(text: str) -> str:
    """Text written as it is, or as a Go string constant where it would read as an action."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if "{{" in text else text


# The system messages joined by blank lines; Ollama merges consecutive ones the same way already.
_GO_SYSTEM = (
    "{{ $system := print }}{{ $found := false }}{{ $last := print }}"
    '{{ range .Messages }}{{ if eq .Role "system" }}'
    '{{ if $found }}{{ $system = print $system "\\n\\n" .Content }}{{ else }}{{ $system = .Content }}{{ end }}'
    "{{ $found = true }}{{ end }}{{ $last = .Role }}{{ end }}"
)


def go_template(name: str, *, bos_token: str, eos_token: str) -> str | None:
    """An Ollama Modelfile TEMPLATE (Go text/template over `.Messages`, each with `.Role` and
    `.Content`) that writes the same prompt as tuitune's template `name` for a conversation that
    ends in a user turn; None for the tokenizer's own template, which has no Go twin here.

    Ollama adds the BOS itself, so the template starts without one (llama2's later [INST] blocks
    still carry theirs, as in training). Go templates cannot strip text or test its last
    character, so for llama2 and plain the messages' contents are taken to be non-empty and to
    neither begin nor end with whitespace (then Python's strip and whitespace tests change
    nothing). Ollama merges consecutive turns of one role (tools aside) with a blank line before
    rendering: that is what llama2 and plain, and alpaca for system turns, do too, but chatml
    renders two user turns in a row as one. Tools are not written. The text never holds `\"\"\"`,
    which would end the Modelfile's quoting.
    """
    if name == "tokenizer":
        return None
    _check(name)
    bos, eos = _go_text(bos_token), _go_text(eos_token)
    if name == "chatml":
        text = (
            "{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
        )
    elif name == "alpaca":
        text = (
            _GO_SYSTEM
            + f"{{{{ if $found }}}}{{{{ $system }}}}{{{{ else }}}}{ALPACA_PREAMBLE}{{{{ end }}}}"
            + '{{ range .Messages }}{{ if eq .Role "assistant" }}\n\n### Response:\n{{ .Content }}'
            + '{{ else if eq .Role "tool" }}\n\n### Input:\n{{ .Content }}'
            + '{{ else if ne .Role "system" }}\n\n### Instruction:\n{{ .Content }}{{ end }}{{ end }}'
            + '{{ if ne $last "assistant" }}\n\n### Response:\n{{ end }}'
        )
    elif name == "llama2":
        open_block = (
            f"{{{{ if not $first }}}}{bos}{{{{ end }}}}[INST] "
            "{{ if and $first $system }}<<SYS>>\n{{ $system }}\n<</SYS>>{{ if $pending }}\n\n{{ end }}{{ end }}"
            "{{ $body }} [/INST]{{ $body = print }}{{ $pending = false }}{{ $first = false }}"
        )
        text = (
            _GO_SYSTEM
            + "{{ $body := print }}{{ $pending := false }}{{ $first := true }}"
            + '{{ range .Messages }}{{ if eq .Role "assistant" }}'
            + open_block
            + f" {{{{ .Content }}}} {eos}"
            + '{{ else if ne .Role "system" }}'
            + '{{ if $pending }}{{ $body = print $body "\\n\\n" .Content }}{{ else }}{{ $body = .Content }}{{ end }}'
            + "{{ $pending = true }}{{ end }}{{ end }}"
            + '{{ if or $pending (ne $last "assistant") }}'
            + open_block
            + "{{ end }}"
        )
    else:  # plain
        text = (
            "{{ $started := false }}{{ $last := print }}{{ range .Messages }}"
            '{{ if $started }}{{ if eq .Role "assistant" }}\n{{ else }}\n\n{{ end }}{{ end }}'
            "{{ .Content }}{{ $started = true }}{{ $last = .Role }}{{ end }}"
            '{{ if and $started (ne $last "assistant") }}\n{{ end }}'
        )
    return None if '"""' in text else text


# --- stops and comparisons ----------------------------------------------------------------------
def stop_tokens(name: str, *, eos_token: str) -> list[str]:
    """What ends an answer: the EOS, and chatml's end of turn (which a tokenizer's EOS may not be)."""
    stops = [eos_token] + ([CHATML_END] if name == "chatml" else [])
    return list(dict.fromkeys(stop for stop in stops if stop))


_SAMPLES: tuple[tuple[Message, ...], ...] = (
    (Message("system", "You are terse."), Message("user", "Name a colour.")),
    (Message("user", "What is 2 + 2?\nAnswer in words."),),
    (Message("user", "Hi."), Message("assistant", "Hello! How can I help?"), Message("user", "Tell me a joke.")),
)


def same_as(name: str, chat_template: str, bos_token: str, eos_token: str) -> bool:
    """Whether `chat_template` (a tokenizer's own) writes the prompts tuitune's template `name`
    writes, for a few sample conversations. A leading BOS is allowed: whether a sequence starts
    with one is the tokenizer's setting, not the prompt format."""
    _check(name)
    template = get_template(name, SimpleNamespace(bos_token=bos_token, eos_token=eos_token, chat_template=None))
    for messages in _SAMPLES:
        expected = template.prompt(messages)
        try:
            rendered = render_jinja(chat_template, messages, bos_token=bos_token, eos_token=eos_token)
        except Exception:  # a template that cannot render the samples is not the same format
            return False
        if rendered != expected and not (bos_token and rendered == bos_token + expected):
            return False
    return True
