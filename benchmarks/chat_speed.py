"""The chat child's cost: time to first token and tokens/s, child process vs generate in-process.

    python benchmarks/chat_speed.py [--model tuitune/demo] [--tokens 128] [--repeats 5]

Both sides load the same model the same way (`tuitune.chats.models.open_pane`) and generate the
same greedy answer with the same streamer; the child adds the process boundary (a JSON line per
text piece over a pipe). Figures are medians over the repeats, after one warm-up answer each.
The model is the base of a throwaway run, so no training is needed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Write a long story about a lighthouse keeper and the sea."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tuitune/demo")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="tuitune-chat-bench-"))
    os.environ["TUITUNE_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tuitune.chats import ChatChild, Sampling
    from tuitune.chats.models import answer, open_pane
    from tuitune.store import COMPLETED, open_store

    store = open_store()
    run = store.create_run(
        name="bench", config={"model": {"name_or_path": args.model}}, model=args.model, method="lora", dataset="-"
    )
    store.set_status(run.id, COMPLETED)
    # A fixed answer length: no stop token, so every repeat generates exactly --tokens tokens.
    sampling = Sampling(temperature=0, max_new_tokens=args.tokens, repetition_penalty=1.0)
    messages = [{"role": "user", "content": PROMPT}]

    pane = open_pane(run, store, "base", device=args.device)
    answer(pane, messages, sampling)  # warm-up
    local = [answer(pane, messages, sampling) for _ in range(args.repeats)]

    with ChatChild() as chat:
        chat.load("b", run_id=run.id, which="base", device=args.device)
        list(chat.ask("b", messages, sampling))
        remote = []
        remote_tokens: list[int] = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            first = None
            for event in chat.ask("b", messages, sampling):
                if event["event"] == "chunk" and first is None:
                    first = time.perf_counter() - started
                if event["event"] == "done":
                    done = event["answer"]
            # Seen from the face: the first piece read from the pipe, the whole answer read.
            remote.append((first, done["tokens"] / (time.perf_counter() - started)))
            remote_tokens.append(done["tokens"])

    tokens = {a.tokens for a in local} | {done_tokens for done_tokens in remote_tokens}
    if tokens != {args.tokens}:
        print(f"note: answers had {sorted(tokens)} tokens (an end-of-text token came early)")
    local_first = statistics.median(a.first_token_seconds or 0 for a in local)
    local_speed = statistics.median(a.tokens_per_second or 0 for a in local)
    remote_first = statistics.median(first or 0 for first, _ in remote)
    remote_speed = statistics.median(speed for _, speed in remote)
    print(f"model {args.model} on {args.device}, {args.tokens} new tokens, medians of {args.repeats}")
    print("| | time to first token | tokens/s |")
    print("| --- | --- | --- |")
    print(f"| in-process generate | {local_first * 1000:.1f} ms | {local_speed:,.1f} |")
    print(f"| chat child (seen from the app) | {remote_first * 1000:.1f} ms | {remote_speed:,.1f} |")
    print(
        f"| child / in-process | {remote_first / local_first:.2f}x | {remote_speed / local_speed:.3f}x (overhead {100 * (1 - remote_speed / local_speed):.1f}%) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
