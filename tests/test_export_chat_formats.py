"""The chat formats written for serving (Jinja for llama.cpp and vLLM, Go for Ollama) build the very
prompts tuitune's templates built in training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tuitune.data.examples import Conversation, Message
from tuitune.data.templates import TEMPLATES, get_template
from tuitune.export.chat_formats import go_template, jinja_template, render_jinja, same_as, stop_tokens

BOS, EOS = "<s>", "</s>"
# The templates read only these attributes of a tokenizer.
TOKENIZER = SimpleNamespace(bos_token=BOS, eos_token=EOS, chat_template=None)


def chat(*turns: tuple[str, str]) -> list[Message]:
    return [Message(role, content) for role, content in turns]


# Contents that neither begin nor end with whitespace, as the Go templates assume.
CONVERSATIONS: dict[str, list[Message]] = {
    "system_user": chat(("system", "You are terse."), ("user", "Name a colour.")),
    "user": chat(("user", "Hi.")),
    "multi_turn": chat(("user", "Hi."), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")),
    "newlines_unicode": chat(
        ("system", "Réponds en français.\nSois bref."),
        ("user", "Qu'est-ce que 2 + 2 ?\n\n- en chiffres\n- en mots — « deux »"),
        ("assistant", "4\nquatre"),
        ("user", "Et 3 × 3 ? 🙂"),
    ),
}
EXTRA: dict[str, dict[str, list[Message]]] = {
    "chatml": {},
    "alpaca": {
        "two_systems": chat(("system", "Be kind."), ("system", "Be brief."), ("user", "Q")),
        "tool_turn": chat(("user", "Weather in Paris?"), ("assistant", '{"city": "Paris"}'), ("tool", "18 C, sunny")),
    },
    "llama2": {
        "two_systems": chat(("system", "Be kind."), ("system", "Be brief."), ("user", "Q")),
        "tool_turn": chat(("user", "Weather in Paris?"), ("assistant", '{"city": "Paris"}'), ("tool", "18 C, sunny")),
    },
    "plain": {"two_users": chat(("user", "First part."), ("user", "Second part."))},
}
# Whitespace at the edges of contents and empty turns: the Jinja templates strip and test the last
# character as Python does (the Go templates cannot, and are not asked to).
EDGES: dict[str, list[Message]] = {
    "spaces": chat(("user", "  spaced "), ("assistant", " an answer \n"), ("user", "tab\t")),
    "empty_turns": chat(("system", ""), ("user", ""), ("assistant", "a"), ("assistant", "b"), ("user", "d")),
    "system_only": chat(("system", "Only this.")),
    "nothing": [],
}


def cases(name: str, *, edges: bool) -> list[tuple[str, list[Message]]]:
    both = {**CONVERSATIONS, **EXTRA[name], **(EDGES if edges else {})}
    return list(both.items())


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("with_bos", [False, True])
def test_jinja_prompt_is_the_training_prompt(name: str, with_bos: bool) -> None:
    template = get_template(name, TOKENIZER)
    jinja = jinja_template(name, bos_token=BOS, eos_token=EOS, with_bos=with_bos)
    for label, messages in cases(name, edges=True):
        rendered = render_jinja(jinja, messages, bos_token=BOS, eos_token=EOS)
        assert rendered == (BOS if with_bos else "") + template.prompt(messages), label


@pytest.mark.parametrize("name", TEMPLATES)
def test_jinja_conversation_ending_in_an_answer_renders_as_trained(name: str) -> None:
    template = get_template(name, TOKENIZER)
    jinja = jinja_template(name, bos_token=BOS, eos_token=EOS, with_bos=False)
    messages = CONVERSATIONS["newlines_unicode"][:3]
    trained = "".join(segment.text for segment in template.render(Conversation(tuple(messages))))
    expected = trained if trained.endswith(EOS) else trained + EOS  # tokenization appends the EOS
    assert render_jinja(jinja, messages, bos_token=BOS, eos_token=EOS, add_generation_prompt=False) == expected


@pytest.mark.parametrize("name", TEMPLATES)
def test_jinja_writes_tools_into_the_system_message_as_training_did(name: str) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"city": {"type": "string"}}}}]
    jinja = jinja_template(name, bos_token=BOS, eos_token=EOS, with_bos=False)
    for messages in (CONVERSATIONS["system_user"], CONVERSATIONS["user"]):
        expected = get_template(name, TOKENIZER).prompt(Conversation(tuple(messages), tools=json.dumps(tools)))
        assert render_jinja(jinja, messages, bos_token=BOS, eos_token=EOS, tools=tools) == expected


def test_render_jinja_renders_as_transformers_does() -> None:
    chat_template_utils = pytest.importorskip("transformers.utils.chat_template_utils")
    messages = CONVERSATIONS["newlines_unicode"]
    for name in TEMPLATES:
        jinja = jinja_template(name, bos_token=BOS, eos_token=EOS, with_bos=True)
        compiled = chat_template_utils._compile_jinja_template(jinja)
        theirs = compiled.render(
            messages=[m.as_dict() for m in messages], add_generation_prompt=True, bos_token=BOS, eos_token=EOS
        )
        assert render_jinja(jinja, messages, bos_token=BOS, eos_token=EOS) == theirs, name


def test_stop_tokens() -> None:
    assert stop_tokens("chatml", eos_token=EOS) == [EOS, "<|im_end|>"]
    assert stop_tokens("chatml", eos_token="<|im_end|>") == ["<|im_end|>"]
    assert stop_tokens("alpaca", eos_token=EOS) == [EOS]


# The chat template Hugging Face's documentation gives for ChatML.
HF_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_same_as_recognises_chatml_and_nothing_else() -> None:
    assert same_as("chatml", jinja_template("chatml", bos_token=BOS, eos_token=EOS, with_bos=False), BOS, EOS)
    assert same_as("chatml", jinja_template("chatml", bos_token=BOS, eos_token=EOS, with_bos=True), BOS, EOS)
    assert same_as("chatml", HF_CHATML, BOS, EOS)
    assert not same_as("chatml", jinja_template("alpaca", bos_token=BOS, eos_token=EOS, with_bos=False), BOS, EOS)
    assert not same_as("chatml", "{{ raise_exception('no') }}", BOS, EOS)


def test_unknown_names() -> None:
    assert go_template("tokenizer", bos_token=BOS, eos_token=EOS) is None
    with pytest.raises(ValueError):
        jinja_template("tokenizer", bos_token=BOS, eos_token=EOS, with_bos=False)


@pytest.mark.parametrize("name", TEMPLATES)
def test_go_template_can_be_quoted_in_a_modelfile(name: str) -> None:
    text = go_template(name, bos_token=BOS, eos_token=EOS)
    assert text is not None and '"""' not in text


# --- Go: rendered by text/template, with the data Ollama gives it -------------------------------
GO_RENDER = r"""
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type Message struct{ Role, Content string }

type Input struct {
	Template      string
	Conversations [][]Message
}

// Ollama's collate: consecutive turns of one role (tools aside) become one, joined by a blank line.
func collate(messages []Message) []Message {
	var out []Message
	for _, m := range messages {
		if len(out) > 0 && out[len(out)-1].Role == m.Role && m.Role != "tool" {
			out[len(out)-1].Content += "\n\n" + m.Content
		} else {
			out = append(out, m)
		}
	}
	return out
}

func main() {
	var input Input
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t, err := template.New("modelfile").Parse(input.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	renderings := []string{}
	for _, messages := range input.Conversations {
		var b strings.Builder
		if err := t.Execute(&b, struct{ Messages []Message }{collate(messages)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		renderings = append(renderings, b.String())
	}
	json.NewEncoder(os.Stdout).Encode(renderings)
}
"""


@pytest.fixture(scope="module")
def go_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program that renders Go templates as Ollama does, built once (standard library only)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (no `go` on the PATH)")
    folder = tmp_path_factory.mktemp("go_render")
    (folder / "main.go").write_text(GO_RENDER)
    env = {
        **os.environ,
        "HOME": str(folder),
        "GOCACHE": str(folder / "cache"),
        "GOPATH": str(folder / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GO111MODULE": "off",
        "GOPROXY": "off",
    }
    subprocess.run([go, "build", "-o", "render", "main.go"], cwd=folder, env=env, check=True, timeout=120)
    return folder / "render"


def render_go(program: Path, template: str, conversations: list[list[Message]]) -> list[str]:
    data = {
        "template": template,
        "conversations": [[{"Role": m.role, "Content": m.content} for m in c] for c in conversations],
    }
    done = subprocess.run(
        [str(program)], input=json.dumps(data), capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout)


@pytest.mark.integration
@pytest.mark.parametrize("name", TEMPLATES)
def test_go_prompt_is_the_training_prompt(go_render: Path, name: str) -> None:
    template = get_template(name, TOKENIZER)
    text = go_template(name, bos_token=BOS, eos_token=EOS)
    assert text is not None
    labelled = cases(name, edges=False)
    renderings = render_go(go_render, text, [messages for _, messages in labelled])
    for (label, messages), rendered in zip(labelled, renderings):
        assert rendered == template.prompt(messages), label


@pytest.mark.integration
def test_go_chatml_sees_two_user_turns_as_one_as_ollama_merges_them(go_render: Path) -> None:
    text = go_template("chatml", bos_token=BOS, eos_token=EOS)
    assert text is not None
    messages = chat(("user", "First part."), ("user", "Second part."))
    [rendered] = render_go(go_render, text, [messages])
    template = get_template("chatml", TOKENIZER)
    assert rendered == template.prompt(chat(("user", "First part.\n\nSecond part.")))
    assert rendered != template.prompt(messages)
