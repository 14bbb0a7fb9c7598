"""`tuitune chat RUN`: talk to a run's model (or its base, or both) in the terminal; light at import.

The model runs in a child process (`tuitune.chats.server`). Each exchange is saved with the run
(`--no-save` to keep it out), and `--export` writes the saved chats as training data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.text import Text

from tuitune.chats.documents import ChatAnswer, ChatReply, ChatsExported, LoadedModel
from tuitune.chats.guard import DEVICE_FORMS, check_device
from tuitune.chats.session import ChatChild, ChatError
from tuitune.chats.settings import GREEDY_BELOW, sampling_of
from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.errors import UsageError
from tuitune.runs import folder as run_folder
from tuitune.runs import lookup
from tuitune.runs.present import literal
from tuitune.store import open_store

RUN_HELP = "A run id, a run name, or `last`."


@app.command("chat")
def chat_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    base: bool = typer.Option(False, "--base", help="Chat with the base model only (no adapter)."),
    compare: bool = typer.Option(
        False, "--compare", help="Both answer each prompt: the fine-tuned model, then its base."
    ),
    merged: bool = typer.Option(False, "--merged", help="Chat with the run's merged model."),
    prompt: Optional[str] = typer.Option(
        None, "--prompt", "-p", help="Ask once and exit (with --json: answers, token counts, tokens/s)."
    ),
    system_prompt: Optional[str] = typer.Option(None, "--system", help="A system message before the conversation."),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", help=f"0 (or below {GREEDY_BELOW:g}): greedy, the same answer every time."
    ),
    top_p: Optional[float] = typer.Option(
        None, "--top-p", help="Nucleus sampling: keep the most likely tokens up to this probability."
    ),
    top_k: Optional[int] = typer.Option(
        None, "--top-k", help="Sample among this many most likely tokens (0: no limit)."
    ),
    min_p: Optional[float] = typer.Option(
        None, "--min-p", help="Drop tokens less likely than this fraction of the most likely one."
    ),
    repetition_penalty: Optional[float] = typer.Option(
        None, "--repetition-penalty", help="Above 1 discourages repeating."
    ),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", "-n", help="Longest answer, in tokens."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling (the same seed, the same answer)."),
    stop: Optional[list[str]] = typer.Option(None, "--stop", help="A string that ends the answer (repeatable)."),
    template: Optional[str] = typer.Option(
        None, "--template", help="Chat template (default: the one the run trained with)."
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help=f"{DEVICE_FORMS} (default, and auto: the GPU when there is one)."
    ),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the conversation with the run."),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write the run's saved chats as JSONL training data (messages format) and exit."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Chat with a run's model: a REPL with streaming, or one --prompt."""
    if sum((base, compare, merged)) > 1:
        raise UsageError("Choose one of --base, --compare and --merged.")
    store = open_store()
    run = lookup.find(run_ref, store=store)
    if export is not None:
        _export(run.id, export, json_output)
        return
    given = {
        "system_prompt": system_prompt,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "min_p": min_p,
        "repetition_penalty": repetition_penalty,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "stop": stop or None,
    }
    sampling = sampling_of(
        {key: value for key, value in given.items() if value is not None},
        name=lambda setting: "--system" if setting == "system_prompt" else f"--{setting.replace('_', '-')}",
    )
    device = check_device(device)  # before the chat process starts
    panes = ["base"] if base else ["merged"] if merged else ["finetuned", "base"] if compare else ["finetuned"]
    if json_output and prompt is None:
        raise UsageError("--json needs --prompt (the REPL is for people).")

    with ChatChild() as chat:
        loaded = {}
        for pane in panes:
            if not json_output and err_console.is_terminal:
                err_console.print(Text(f"loading {pane}…", style="dim"))
            loaded[pane] = chat.load(pane, run_id=run.id, which=pane, device=device, template=template)
            if not json_output:
                err_console.print(
                    Text(
                        f"{pane}: {literal(loaded[pane]['description'])} (template {loaded[pane]['template']}, {loaded[pane]['device']})",
                        style="dim",
                    )
                )
        conversation = Conversation(run.id, sampling, save)
        if prompt is not None:
            answers = conversation.ask(chat, panes, prompt, show=not json_output)
            if json_output:
                reply = ChatReply(
                    run_id=run.id,
                    prompt=prompt,
                    loaded={pane: LoadedModel.model_validate(model) for pane, model in loaded.items()},
                    answers={pane: ChatAnswer.model_validate(answer) for pane, answer in answers.items()},
                    conversation_id=conversation.id,
                )
                print_json(reply.model_dump(mode="json"))
            return
        _repl(chat, panes, conversation)


class Conversation:
    """The turns so far, saved with the run after each one."""

    def __init__(self, run_id: int, sampling: Any, save: bool) -> None:
        self.run_id, self.sampling, self.save = run_id, sampling, save
        self.turns: list[dict[str, Any]] = []
        self.history: dict[str, list[dict[str, str]]] = {}
        self.id: int | None = None

    def ask(self, chat: Any, panes: list[str], prompt: str, *, show: bool) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for pane in panes:
            messages = [*self.history.get(pane, []), {"role": "user", "content": prompt}]
            if show and len(panes) > 1:
                console.print(Text(f"[{pane}]", style="bold cyan"))
            try:
                for event in chat.ask(pane, messages, self.sampling):
                    if event["event"] == "chunk" and show:
                        sys.stdout.write(event["text"])
                        sys.stdout.flush()
                    elif event["event"] == "done":
                        answers[pane] = event["answer"]
                    elif event["event"] == "restarted":
                        err_console.print(Text(f"({event['message']})", style="yellow"))
            except KeyboardInterrupt:
                chat.stop()  # the child reports the cut answer as `interrupted`
                raise
            if show:
                stats = answers[pane]
                speed = f", {stats['tokens_per_second']:.1f} tok/s" if stats.get("tokens_per_second") else ""
                sys.stdout.write("\n")
                err_console.print(Text(f"({stats['tokens']} tokens{speed}, {stats['stopped']})", style="dim"))
                if stats.get("dropped_messages"):
                    err_console.print(
                        Text(
                            f"(the {stats['dropped_messages']} oldest messages were left out to fit the model's "
                            "context; /reset starts over)",
                            style="yellow",
                        )
                    )
            self.history[pane] = [*messages, {"role": "assistant", "content": answers[pane]["text"]}]
        self.turns.append({"prompt": prompt, "answers": answers})
        if self.save:
            saved = open_store().save_conversation(
                self.run_id, turns=self.turns, settings=self.sampling.model_dump(), conversation_id=self.id
            )
            self.id = saved.id
        return answers

    def reset(self) -> None:
        self.turns, self.history, self.id = [], {}, None


def _repl(chat: Any, panes: list[str], conversation: Conversation) -> None:
    err_console.print(
        Text("Type a message. /reset starts over, /exit (or Ctrl+D) leaves, Ctrl+C stops an answer.", style="dim")
    )
    while True:
        try:
            prompt = input("you> ")
        except (EOFError, KeyboardInterrupt):
            sys.stdout.write("\n")
            return
        if not prompt.strip():
            continue
        if prompt.strip() in ("/exit", "/quit"):
            return
        if prompt.strip() == "/reset":
            conversation.reset()
            err_console.print(Text("(a new conversation)", style="dim"))
            continue
        try:
            conversation.ask(chat, panes, prompt, show=True)
        except ChatError as error:  # a prompt too long, a model that failed or died: the next one may do
            sys.stdout.write("\n")
            err_console.print(Text(str(error), style="red"))
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            # Collect what the child says about the cut answer, so the next question starts clean.
            err_console.print(Text("(stopped)", style="dim"))


def _export(run_id: int, path: Path, json_output: bool) -> None:

    conversations = open_store().conversations(run_id)
    rows = [conversation.training_rows() for conversation in reversed(conversations)]
    rows = [row for row in rows if row["messages"]]
    try:
        # Written into a run's folder, the export is deleted with the run's files.
        with run_folder.writing(path), path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as error:
        raise UsageError(f"Cannot write {literal(path)}: {error.strerror or error}.") from None
    if json_output:
        print_json(ChatsExported(run_id=run_id, path=str(path), conversations=len(rows)).model_dump(mode="json"))
    else:
        console.print(
            Text(
                f"Wrote {len(rows)} conversations to {literal(path)} (train on it with `tuitune train -d {literal(path)}`)."
            )
        )
