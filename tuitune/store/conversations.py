"""Chats kept with their run: the settings and every turn. Mixed into `Store`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuitune.errors import RunNotFoundError
from tuitune.store import clock
from tuitune.store.records import json_ready
from tuitune.store.rows import Reading
from tuitune.store.tables import ConversationRow
from tuitune.store.transactions import reads, writes


@dataclass(frozen=True)
class Conversation:
    """A saved chat: `turns` are {"prompt", "answers": {pane: {"text", "tokens", "seconds", …}}}."""

    id: int
    run_id: int
    title: str
    settings: dict[str, Any]
    turns: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)

    def training_rows(self, pane: str = "finetuned") -> dict[str, Any]:
        """The chat in the `messages` format tuitune trains on, with `pane`'s answers."""
        messages: list[dict[str, str]] = []
        if self.settings.get("system_prompt"):
            messages.append({"role": "system", "content": self.settings["system_prompt"]})
        for turn in self.turns:
            answer = (turn.get("answers") or {}).get(pane)
            if answer is None:
                continue
            messages += [{"role": "user", "content": turn["prompt"]}, {"role": "assistant", "content": answer["text"]}]
        return {"messages": messages}


CONVERSATIONS = Reading(Conversation, ConversationRow)


class ConversationStore:
    path: Path

    def _run(self, run_id: int) -> Any:  # provided by Store
        raise NotImplementedError

    @writes
    def save_conversation(
        self, run_id: int, *, turns: list[dict[str, Any]], settings: dict[str, Any], conversation_id: int | None = None
    ) -> Conversation:
        """Create a conversation, or replace the turns of an existing one (it grows turn by turn)."""
        self._run(run_id)
        now = clock.now()
        title = (turns[0]["prompt"] if turns else "")[:80]
        if conversation_id is None:
            conversation_id = ConversationRow.insert(
                run=run_id,
                title=title,
                settings=json.dumps(settings),
                turns=json.dumps(turns),
                created_at=now,
                updated_at=now,
            ).execute()
        else:
            updated = (
                ConversationRow.update(turns=json.dumps(turns), settings=json.dumps(settings), updated_at=now)
                .where((ConversationRow.id == conversation_id) & (ConversationRow.run == run_id))
                .execute()
            )
            if not updated:
                raise RunNotFoundError(f"Run {run_id} has no conversation {conversation_id}.")
        return CONVERSATIONS(
            ConversationRow.select(*CONVERSATIONS.columns).where(ConversationRow.id == conversation_id).tuples().get()
        )

    @reads
    def conversations(self, run_id: int) -> list[Conversation]:
        """The run's conversations, newest first."""
        query = (
            ConversationRow.select(*CONVERSATIONS.columns)
            .where(ConversationRow.run == run_id)
            .order_by(ConversationRow.id.desc())
        )
        return [CONVERSATIONS(row) for row in query.tuples()]
