"""The templates written for the serving tools format prompts exactly as training did: the Jinja
one (GGUF metadata, vLLM) rendered as transformers renders it, the Go one (Ollama's Modelfile)
rendered by Go's own text/template, each compared with tuitune's `Template.prompt()`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tuitune.data.examples import Message
from tuitune.data.templates import TEMPLATES, get_template
from tuitune.export.chat_formats import go_template, jinja_template, render_jinja, same_as, stop_tokens

BOS, EOS = "<s>", "</s>"
TOKENIZER = SimpleNamespace(bos_token=BOS, eos_token=EOS, chat_template=None)
CONVERSATIONS = [
    [Message("system", "You are terse."), Message("user", "Name a colour.")],
    [Message("user", "What is 2 + 2?\nAnswer in words, café.")],
    [Message("user", "Hi."), Message("assistant", "Hello! How can I help?"), Message("user", "Tell a joke.")],
    [Message("system", "Be kind."), Message("system", "Be brief."), Message("user", "Greet Ada.")],
    [Message("user", "Look this up."), Message("tool", '{"result": 42}'), Message("user", "And now?")],
    [
        Message("system", "日本語で"),
        Message("user", "One."),
        Message("assistant", "Two."),
        Message("user", "Three."),
        Message("assistant", "Four."),
        Message("user", "Five {{ not an action }}."),
    ],
]


def expected(name: str, messages: list[Message]) -> str:
    return get_template(name, TOKENIZER).prompt(messages)


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_jinja_template_renders_every_prompt_as_training_did(name: str) -> None:
    for with_bos in (False, True):
        template = jinja_template(name, bos_token=BOS, eos_token=EOS, with_bos=with_bos)
        for messages in CONVERSATIONS:
            rendered = render_jinja(template, messages, bos_token=BOS, eos_token=EOS)
            assert rendered == (BOS if with_bos else "") + expected(name, messages), (name, messages)


GO_PROGRAM = """
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Message struct{ Role, Content string }

func main() {
	var input struct {
		Template      string
		Conversations [][]Message
	}
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		panic(err)
	}
	parsed := template.Must(template.New("modelfile").Parse(input.Template))
	out := []string{}
	for _, messages := range input.Conversations {
		var b strings.Builder
		if err := parsed.Execute(&b, struct{ Messages []Message }{messages}); err != nil {
			panic(err)
		}
		out = append(out, b.String())
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""


@pytest.mark.integration  # compiles and runs a Go program
def test_the_modelfile_template_renders_every_prompt_as_training_did_in_go(tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (apt install golang-go): Ollama's template engine cannot run here")
    (tmp_path / "main.go").write_text(GO_PROGRAM)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "GOCACHE": str(tmp_path / "cache"),
        "GOPATH": str(tmp_path / "gopath"),
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    binary = tmp_path / "render"
    subprocess.run([go, "build", "-o", str(binary), "main.go"], cwd=tmp_path, env=env, check=True, timeout=300)
    for name in TEMPLATES:
        template = go_template(name, bos_token=BOS, eos_token=EOS)
        assert template is not None
        document = {
            "Template": template,
            "Conversations": [[{"Role": m.role, "Content": m.content} for m in c] for c in CONVERSATIONS],
        }
        done = subprocess.run(
            [str(binary)], input=json.dumps(document), capture_output=True, text=True, check=True, timeout=60
        )
        rendered = json.loads(done.stdout)
        for messages, text in zip(CONVERSATIONS, rendered):
            assert text == expected(name, messages), (name, messages)


def test_the_tokens_that_end_an_answer() -> None:
    assert stop_tokens("chatml", eos_token=EOS) == [EOS, "<|im_end|>"]
    assert stop_tokens("alpaca", eos_token=EOS) == [EOS]
    assert go_template("tokenizer", bos_token=BOS, eos_token=EOS) is None


def test_a_tokenizers_own_template_is_recognised_only_when_it_formats_prompts_alike() -> None:
    chatml = jinja_template("chatml", bos_token=BOS, eos_token=EOS, with_bos=False)
    alpaca = jinja_template("alpaca", bos_token=BOS, eos_token=EOS, with_bos=False)
    assert same_as("chatml", chatml, BOS, EOS)
    assert not same_as("chatml", alpaca, BOS, EOS)
