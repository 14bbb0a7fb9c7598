"""A user throws broken files, hostile configs and odd command lines at tuitune: it never answers
with a traceback, and never leaves a run behind.

A fixed seed mutates valid seeds (the bundled sample rows and the five data formats, as JSONL,
JSON, CSV, TSV and text; run configurations as YAML and JSON; command lines that work) into a
few hundred cases: flipped bytes, truncation, the wrong encoding, deep nesting, huge numbers,
NaN and infinity, lone surrogates, NULs and control characters, wrong types, giant strings,
unknown keys. Each runs in-process through the console script's entry point, `tuitune.cli.main`.

For every case: no traceback; an exit code of 0, 1 or 2; a failure is one short line on stderr;
no run row and no run folder afterwards. A case that is invalid by construction (a NUL in a data
file, `epochs: .inf`, an unknown option...) must also fail. Nothing trains: `train` cases always
end in `--save-config`, and a tripwire fails the test should any case start a run or the TUI.
Run with `-s` to see the counts.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cli_inprocess import Result, run_inprocess

SEED = 20_240_917
DATA_CASES = 190
CONFIG_CASES = 150
ARGV_CASES = 80  # random mutations, on top of every hostile value in every command
# An error line longer than this is echoing a bad value instead of an excerpt of it.
MAX_ERROR_LINE = 500


@dataclass
class Case:
    label: str
    argv: list[str]
    must_fail: bool = False


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


# --- seeds ---------------------------------------------------------------------------------
def sample_rows() -> list[dict[str, Any]]:
    from tuitune.data.sources import sample_dataset_path

    lines = sample_dataset_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:6]]


def seed_rows() -> dict[str, list[dict[str, Any]]]:
    """Four or more valid rows of each format."""
    return {
        "alpaca": sample_rows(),
        "chat": [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": f"Say {i}."},
                    {"role": "assistant", "content": f"{i}."},
                ]
            }
            for i in range(5)
        ],
        "sharegpt": [
            {
                "conversations": [
                    {"from": "human", "value": f"Count to {i}."},
                    {"from": "gpt", "value": " ".join(map(str, range(1, i + 2)))},
                ]
            }
            for i in range(5)
        ],
        "completion": [{"prompt": f"{i} + {i} =", "completion": f" {2 * i}"} for i in range(5)],
        "text": [{"text": f"Document {i}: tea is brewed from leaves of Camellia sinensis."} for i in range(5)],
    }


FLAT = ("alpaca", "completion", "text")  # formats a CSV can hold
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")


def serialize(rows: list[Any], suffix: str) -> str:
    if suffix == ".jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if suffix == ".json":
        return json.dumps(rows, ensure_ascii=False, indent=1)
    if suffix == ".txt":
        return "\n\n".join(str(row.get("text", row)) if isinstance(row, dict) else str(row) for row in rows) + "\n"
    buffer = io.StringIO()
    columns = list(dict.fromkeys(k for row in rows if isinstance(row, dict) for k in row)) or ["text"]
    writer = csv.DictWriter(buffer, columns, delimiter="\t" if suffix == ".tsv" else ",", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in row.items()} if isinstance(row, dict) else {columns[0]: row})
    return buffer.getvalue()


# --- hostile values --------------------------------------------------------------------------
def deep(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


HUGE_DIGITS = "9" * 5000
HOSTILE_TEXT = [
    "\x1b[31mred\x1b[0m",
    "[/]x[bold]",
    "tab\there\x0bvt\x0cff\rcr",
    "ü∂ 漢字 🙂",
    "\u202eevil",
    "x" * 60_000,
    "",
    " ",
]
LONE_SURROGATES = ["\\ud83d", "\\udc00", "\\udfff"]  # JSON escapes, unpaired
WRONG_TYPES: list[Any] = [None, 0, -1, 1.5, True, [], {}, [1, 2], {"a": 1}, "x", [{"role": "user"}]]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    mutable = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        mutable[rng.randrange(len(mutable))] = rng.randrange(256)
    return bytes(mutable)


def insert(rng: random.Random, data: bytes, piece: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + piece + data[at:]


def random_binary(rng: random.Random, size: int) -> bytes:
    # 0x80 first: never a byte-order mark, never valid UTF-8.
    return b"\x80" + bytes(rng.randrange(256) for _ in range(size))


# --- data files ----------------------------------------------------------------------------
def data_cases(rng: random.Random, folder: Path) -> list[Case]:
    seeds = seed_rows()
    cases: list[Case] = []
    names = ["rows", "rows[b]", "ü space", "a[/]b"]  # markup and non-ASCII in the path itself

    def mutate(fmt: str, rows: list[dict[str, Any]], suffix: str) -> tuple[bytes, bool, str]:
        """(file content, invalid by construction, what was done)."""
        text = serialize(rows, suffix)
        json_like = suffix in (".json", ".jsonl")
        choices: list[str] = [
            "valid",
            "flip",
            "truncate",
            "nul",
            "control",
            "utf16-bom",
            "utf16-nobom",
            "latin1",
            "empty",
            "binary",
            "wrong-type",
            "giant",
            "unknown-keys",
            "hostile-text",
        ]
        if json_like:
            choices += [
                "deep",
                "deep-row",
                "huge-number",
                "big-number",
                "nan",
                "surrogate",
                "not-objects",
                "unknown-role",
            ]
        kind = rng.choice(choices)
        if kind == "valid":
            return text.encode(), False, kind
        if kind == "flip":
            return flip_bytes(rng, text.encode()), False, kind
        if kind == "truncate":
            return text.encode()[: rng.randrange(len(text) + 1)], False, kind
        if kind == "nul":
            return insert(rng, text.encode(), b"\x00"), True, kind
        if kind == "control":
            return insert(rng, text.encode(), bytes([rng.choice([1, 2, 7, 8, 11, 12, 27, 31, 127])])), False, kind
        if kind == "utf16-bom":
            return text.encode("utf-16"), False, kind
        if kind == "utf16-nobom":
            return text.encode(rng.choice(["utf-16-le", "utf-16-be"])), True, kind
        if kind == "latin1":
            changed = [dict(row, note="café crème") for row in rows]
            return serialize(changed, suffix).encode("latin-1", "replace"), True, kind
        if kind == "empty":
            return rng.choice([b"", b"   \n\n\t\n"]), True, kind
        if kind == "binary":
            return random_binary(rng, rng.randint(1, 400)), True, kind
        if kind == "wrong-type":
            changed = [dict(row) for row in rows]
            row = rng.choice(changed)
            row[rng.choice(list(row))] = rng.choice(WRONG_TYPES)
            return serialize(changed, suffix).encode(), False, kind
        if kind == "giant":
            changed = [dict(row) for row in rows]
            row = rng.choice(changed)
            row[rng.choice(list(row))] = "giant " * rng.choice([2_000, 30_000])
            return serialize(changed, suffix).encode(), False, kind
        if kind == "unknown-keys":
            changed = [{f"k{rng.randrange(99)}_{key[::-1]}": value for key, value in row.items()} for row in rows]
            return serialize(changed, suffix).encode(), False, kind
        if kind == "hostile-text":
            changed = [dict(row) for row in rows]
            for row in changed:
                for key, value in row.items():
                    if isinstance(value, str):
                        row[key] = value + rng.choice(HOSTILE_TEXT[:5])
            return serialize(changed, suffix).encode(), False, kind
        if kind == "deep":
            depth = rng.choice([65, 300, 1_000, 5_000, 50_000])
            raw = json.dumps(rows[0])[:-1] + f', "nested": {deep(depth)}}}'
            return (raw + "\n" if suffix == ".jsonl" else f"[{raw}]").encode(), True, kind
        if kind == "deep-row":
            return (deep(rng.choice([2, 70, 2_000])) + "\n").encode(), True, kind
        if kind == "huge-number":
            raw = json.dumps(rows[0])[:-1] + f', "n": {rng.choice(["", "-"])}{HUGE_DIGITS}}}'
            return (raw + "\n" if suffix == ".jsonl" else f"[{raw}]").encode(), True, kind
        if kind == "big-number":  # under Python's 4,300-digit limit: a valid (useless) column
            raw = json.dumps(rows[0])[:-1] + f', "n": {"7" * 4_000}}}'
            return (raw + "\n" if suffix == ".jsonl" else f"[{raw}]").encode(), False, kind
        if kind == "nan":
            raw = json.dumps(rows[0])[:-1] + f', "score": {rng.choice(["NaN", "Infinity", "-Infinity", "1e999"])}}}'
            return (raw + "\n" if suffix == ".jsonl" else f"[{raw}]").encode(), False, kind
        if kind == "surrogate":
            key = rng.choice(list(rows[0]))
            value = "tea " + rng.choice(LONE_SURROGATES) + " leaves"
            raw = json.dumps(rows[0])[:-1] + f', "{key}_x": "{value}"}}'
            if rng.random() < 0.5:  # in a key instead
                raw = json.dumps(rows[0])[:-1] + ', "k\\ud800": "v"}'
            return (raw + "\n" if suffix == ".jsonl" else f"[{raw}]").encode(), True, kind
        if kind == "not-objects":
            value = rng.choice(["[1, 2, 3]", "[[1]]", "null", "1", '"text"', "[true]", "{}"])
            return value.encode(), False, kind
        # unknown-role
        changed = [
            {
                "messages": [
                    {"role": rng.choice(["wizard", "", "USER ", "gpt"]), "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            }
        ]
        return serialize(changed, suffix).encode(), False, kind

    for number in range(DATA_CASES):
        fmt = rng.choice(list(seeds))
        suffix = rng.choice(SUFFIXES if fmt in FLAT else (".jsonl", ".json"))
        content, invalid, kind = mutate(fmt, seeds[fmt], suffix)
        name = f"{number}-{rng.choice(names)}{suffix}"
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        argv = ["data", str(path)]
        extra = rng.random()
        if extra < 0.25:
            argv.append("--json")
        elif extra < 0.35:
            argv += [
                "--to",
                rng.choice(["chat", "alpaca", "sharegpt", "completion"]),
                "-o",
                str(folder / f"{number}-out.jsonl"),
            ]
        elif extra < 0.45:
            argv += ["--format", rng.choice(["auto", "alpaca", "chat", "sharegpt", "completion", "text"])]
        elif extra < 0.5:
            argv += ["--max-length", rng.choice(["8", "64", "7", "99999999999", "1048577"])]
            invalid = invalid or argv[-1] in ("7", "99999999999", "1048577")
        cases.append(Case(f"data {suffix} {fmt} {kind}", argv, invalid))
    # A dataset folder, read through `datasets` (slower: a few only).
    for number in range(3):
        sub = folder / f"dataset-folder-{number}"
        sub.mkdir()
        fmt = rng.choice(FLAT)
        content, invalid, kind = mutate(fmt, seeds[fmt], ".jsonl")
        (sub / "train.jsonl").write_bytes(content)
        cases.append(Case(f"data folder {fmt} {kind}", ["data", str(sub)], False))
    return cases


# --- run configurations -------------------------------------------------------------------------
def seed_configs() -> list[dict[str, Any]]:
    from tuitune.config import ConfigBuilder, RunConfig

    full = (
        ConfigBuilder()
        .name("fuzz")
        .model("Qwen/Qwen2.5-0.5B", revision="main", dtype="bfloat16")
        .data("data/train.jsonl", format="chat", template="chatml", max_samples=500, data_files=["a.jsonl"])
        .lora(r=16, alpha=32, target_modules=["q_proj", "v_proj"])
        .training(epochs=2.5, batch_size=8, report_to=["none"])
        .build()
    )
    return [RunConfig().to_dict(), full.to_dict(), ConfigBuilder().demo().training(max_steps=1).build().to_dict()]


# Values no run can use, per field: each must be refused by the config.
BAD_VALUES: dict[tuple[str, str], list[Any]] = {
    ("training", "epochs"): [float("inf"), float("nan"), -1.0, 0, 1e300, "three"],
    ("training", "max_steps"): [2**63, 0, -5, 10**30, "HUGE"],
    ("training", "batch_size"): [0, 10**30, 1.0e30, "four"],
    ("training", "gradient_accumulation_steps"): [0, 2**40],
    ("training", "learning_rate"): [float("inf"), float("nan"), 0, -1.0],
    ("training", "seed"): [-1, 2**32, 2**63],
    ("training", "logging_steps"): [0, 2**63],
    ("training", "save_steps"): [0, 10**12],
    ("training", "warmup_ratio"): [float("nan"), 1.0],
    ("training", "max_grad_norm"): [float("inf"), 0],
    ("data", "seed"): [-1, 2**32],
    ("data", "max_length"): [0, 7, 2**40],
    ("data", "validation_split"): [float("inf"), float("nan"), -0.5],
    ("lora", "r"): [0, 10**30, 1.0e30],
    ("lora", "alpha"): [0, 10**30],
    ("lora", "dropout"): [float("nan"), 1.0, -0.1],
    ("evaluation", "max_new_tokens"): [0, 2**40],
    ("training", "report_to"): [["nope"], ["none", "wandb"], ["all", "tensorboard"], "wandb"],
}
if importlib.util.find_spec("wandb") is None:
    BAD_VALUES[("training", "report_to")].append(["wandb"])


def config_cases(rng: random.Random, folder: Path) -> list[Case]:
    import yaml

    cases: list[Case] = []
    seeds = seed_configs()

    def dump(data: Any, suffix: str) -> str:
        if suffix == ".json":
            return json.dumps(data, indent=2, ensure_ascii=False)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    for number in range(CONFIG_CASES):
        data = json.loads(json.dumps(rng.choice(seeds)))
        suffix = rng.choice([".yaml", ".yml", ".json"])
        kind = rng.choice(
            [
                "bad-value",
                "bad-value",
                "bad-value",
                "wrong-type",
                "unknown-key",
                "hostile-text",
                "flip",
                "truncate",
                "utf16-bom",
                "utf16-nobom",
                "latin1",
                "binary",
                "nul",
                "deep",
                "alias",
                "top-level",
                "surrogate",
                "oversize",
                "empty",
            ]
        )
        invalid = True
        if kind == "bad-value":
            section, key = rng.choice(list(BAD_VALUES))
            value = rng.choice(BAD_VALUES[(section, key)])
            data[section][key] = "HUGE_NUMBER_HERE" if value == "HUGE" else value
            text = (
                dump(data, suffix).replace('"HUGE_NUMBER_HERE"', HUGE_DIGITS).replace("HUGE_NUMBER_HERE", HUGE_DIGITS)
            )
            kind = f"{section}.{key}={str(value)[:20]}"
        elif kind == "wrong-type":
            section = rng.choice(["model", "data", "lora", "training", "evaluation"])
            data[section][rng.choice(list(data[section]))] = rng.choice(WRONG_TYPES)
            text, invalid = dump(data, suffix), False
        elif kind == "unknown-key":
            where = rng.choice([data, data["training"], data["lora"]])
            where[rng.choice(["learning_rat", "epoch", "x" * 10_000, "ü", "[/]"])] = 1
            text = dump(data, suffix)
        elif kind == "hostile-text":
            data[rng.choice(["name"])] = rng.choice(HOSTILE_TEXT)
            data["data"]["source"] = rng.choice(HOSTILE_TEXT)
            text, invalid = dump(data, suffix), False
        elif kind in ("flip", "truncate"):
            raw = dump(data, suffix).encode()
            content = flip_bytes(rng, raw) if kind == "flip" else raw[: rng.randrange(len(raw) + 1)]
            cases.append(write_config(folder, number, suffix, content, kind, False))
            continue
        elif kind in ("utf16-bom", "utf16-nobom", "latin1", "binary", "nul"):
            data["name"] = "café"
            text = dump(data, suffix)
            if kind == "binary":
                content = random_binary(rng, rng.randint(1, 2_000))
            elif kind == "nul":
                content = insert(rng, text.encode(), b"\x00")
            else:
                content = text.encode({"utf16-bom": "utf-16", "utf16-nobom": "utf-16-le", "latin1": "latin-1"}[kind])
            cases.append(write_config(folder, number, suffix, content, kind, kind != "utf16-bom"))
            continue
        elif kind == "deep":
            depth = rng.choice([30, 2_000, 20_000])
            text = f'{{"name": {deep(depth)}}}' if suffix == ".json" else f"name: {deep(depth)}\n"
        elif kind == "alias":
            if suffix == ".json":
                suffix = ".yaml"
            text = (
                "a: &a [x, x, x, x, x, x, x, x, x]\n"
                + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
                    for i in range(rng.choice([1, 6]))
                )
                + "name: *a\n"
            )
        elif kind == "top-level":
            text = rng.choice(["[1, 2]", "42", '"lora"', "- method: lora\n", "[]"])
        elif kind == "surrogate":
            suffix = ".json"
            text = json.dumps(data).replace('"method": "', '"name": "\\ud83d", "method": "')
        elif kind == "oversize":
            text = (
                dump(data, suffix)
                + ("\n" if suffix != ".json" else "")
                + (" " * 1_100_000 if suffix == ".json" else "#" * 1_100_000)
            )
        else:  # empty: a valid, all-defaults configuration
            text, invalid = rng.choice(["", "\n", "{}" if suffix == ".json" else "# nothing\n"]), False
            if suffix == ".json" and text != "{}":
                invalid = True  # an empty .json file is not JSON
        cases.append(write_config(folder, number, suffix, text.encode(), kind, invalid))
    return cases


def write_config(folder: Path, number: int, suffix: str, content: bytes, kind: str, invalid: bool) -> Case:
    path = folder / f"config-{number}{suffix}"
    path.write_bytes(content)
    argv = ["train", "--config", str(path), "--save-config", str(folder / f"saved-{number}.yaml")]
    return Case(f"config {suffix} {kind}", argv, invalid)


# --- command lines -------------------------------------------------------------------------
HOSTILE_ARGS = [
    "9" * 30,
    "-1",
    "0",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "x" * 10_000,
    "\udcff",
    "\x1b[31mred",
    "[/]x[bold]",
    "",
    " ",
    "--",
    "/",
    "~nouser/x",
    "../" * 60,
    "ü∂",
    "last",
    "1",
    "-n",
    "--json",
]
# Values of train flags that no run can use: each must be refused before anything starts.
BAD_TRAIN_FLAGS = {
    "--max-steps": ["9223372036854775808", "0", "-1", "1000000001"],
    "--epochs": ["nan", "inf", "-inf", "1e309", "0", "-1"],
    "--seed": ["-1", "4294967296"],
    "--batch-size": ["1e30", "99999999999", "0"],
    "--lora-r": ["0", "99999999999"],
    "--lr": ["nan", "inf", "0"],
    "--max-length": ["7", "99999999999"],
    "--grad-accum": ["0", "99999999999"],
}


def argv_cases(rng: random.Random, folder: Path) -> list[Case]:
    valid_data = folder / "argv-data.jsonl"
    valid_data.write_text(serialize(seed_rows()["alpaca"], ".jsonl"), encoding="utf-8")
    seeds: list[list[str]] = [
        ["data", str(valid_data)],
        ["data", str(valid_data), "--json", "--max-length", "64"],
        ["data", str(valid_data), "--to", "chat", "-o", str(folder / "argv-out.jsonl")],
        ["data", str(valid_data), "--model", "tuitune/demo", "--template", "alpaca"],
        ["recommend", "tuitune/demo", "--vram", "8", "--max-length", "256", "-o", str(folder / "recommended.yaml")],
        ["recommend", "tuitune/demo", "--dataset", str(valid_data), "--json"],
        ["train", "--demo", "--max-steps", "1"],
        ["train", "--model", "tuitune/demo", "--dataset", str(valid_data), "--epochs", "1", "--name", "fuzz"],
        ["show", "1"],
        ["runs", "--limit", "3"],
        ["logs", "1", "-n", "2"],
        ["compare", "1", "2"],
        ["cancel", "1"],
        ["delete", "1", "-y"],
        ["resume", "1", "--epochs", "2"],
        ["eval", "1", "--samples", "2"],
        ["merge", "1", str(folder / "merged")],
        ["upload", "1", "someone/model", "--dry-run"],
    ]
    cases: list[Case] = []
    # Every hostile value in every command (at a random position of each), then random mutations.
    for seed in seeds:
        for value in HOSTILE_ARGS:
            body = seed[1:]
            body[rng.randrange(len(body))] = value
            label = f"argv {seed[0]} hostile {value[:12]!r}"
            if seed[0] == "train":
                cases.append(train_case(["train", *body], folder, len(cases), label, False))
            else:
                cases.append(Case(label, [seed[0], *body]))
    for flag, values in BAD_TRAIN_FLAGS.items():
        for value in values:
            cases.append(
                train_case(["train", "--demo", flag, value], folder, len(cases), f"train {flag} {value}", True)
            )
    target = len(cases) + ARGV_CASES
    while len(cases) < target:
        argv = list(rng.choice(seeds))
        kind = rng.choice(["replace", "replace", "replace", "drop", "duplicate", "swap", "unknown-option", "command"])
        invalid = False
        body = argv[1:]
        if kind == "replace" and body:
            body[rng.randrange(len(body))] = rng.choice(HOSTILE_ARGS)
        elif kind == "drop" and body:
            del body[rng.randrange(len(body))]
        elif kind == "duplicate" and body:
            at = rng.randrange(len(body))
            body.insert(at, body[at])
        elif kind == "swap" and len(body) > 1:
            i, j = rng.sample(range(len(body)), 2)
            body[i], body[j] = body[j], body[i]
        elif kind == "unknown-option":
            body.insert(rng.randrange(len(body) + 1), rng.choice(["--frobnicate", "--epochz", "-Z"]))
            invalid = True
        elif kind == "command":
            argv[0] = rng.choice(["trian", "dat", "x" * 5_000, "\x1b[31m", "DATA"])
            invalid = True
        label = f"argv {argv[0][:12]!r} {kind}"
        if argv[0] == "train":
            cases.append(train_case(["train", *body], folder, len(cases), label, invalid))
        else:
            cases.append(Case(label, [argv[0], *body], invalid))
    return cases


def train_case(argv: list[str], folder: Path, number: int, label: str, invalid: bool) -> Case:
    # Always last, so whatever the mutation did, a valid command line only writes a config.
    return Case(label, [*argv, "--save-config", str(folder / f"argv-saved-{number}.yaml")], invalid)


# --- judging -------------------------------------------------------------------------------
def problem_with(case: Case, result: Result, home: Path) -> str | None:
    if result.traceback is not None:
        return "traceback:\n" + result.traceback[-3_000:]
    if result.returncode not in (0, 1, 2):
        return f"exit code {result.returncode}"
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if len(lines) != 1:
            return f"{len(lines)} lines on stderr:\n{result.stderr[:2_000]}"
        if len(lines[0]) > MAX_ERROR_LINE:
            return f"an error line of {len(lines[0])} characters: {lines[0][:300]}…"
    elif case.must_fail:
        return "accepted although invalid by construction"
    return left_behind(home)


def left_behind(home: Path) -> str | None:
    runs = home / "runs"
    if runs.exists() and any(runs.iterdir()):
        return f"a run folder was left behind: {sorted(p.name for p in runs.iterdir())}"
    if (home / "tuitune.db").exists():
        from tuitune.store import open_store

        rows = open_store().list_runs()
        if rows:
            return f"{len(rows)} run rows were left behind"
    return None


def tripwire(what: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a fuzz case {what}: nothing here may train or open the TUI")

    return fail


def describe(case: Case) -> str:
    shown = [arg if len(arg) <= 60 else f"{arg[:30]}…({len(arg)} chars)" for arg in case.argv]
    return f"{case.label}: tuitune {' '.join(map(repr, shown))}"


def test_hundreds_of_mutated_inputs_never_end_in_a_traceback(
    tmp_path: Path, tuitune_home: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuitune.tui
    from tuitune.engine import launcher

    monkeypatch.setattr(launcher, "launch", tripwire("started a run"))
    monkeypatch.setattr(tuitune.tui, "run_app", tripwire("opened the terminal app"))
    monkeypatch.chdir(tmp_path)  # an empty path or "." must not read the repository
    folder = tmp_path / "fuzz"
    folder.mkdir()
    rng = random.Random(SEED)
    corpus = data_cases(rng, folder) + config_cases(rng, folder) + argv_cases(rng, folder)
    cases = corpus

    tally = Tally()
    for case in cases:
        result = run_inprocess(*case.argv)
        problem = problem_with(case, result, tuitune_home)
        tally.counts["tried"] += 1
        tally.counts["refused" if result.returncode else "accepted"] += 1
        if result.traceback is not None:
            tally.counts["tracebacks"] += 1
        if problem is None:
            tally.counts["clean"] += 1
        else:
            tally.problems.append(f"{describe(case)}\n  -> {problem}")

    counts = tally.counts
    print(
        f"\nfuzz: {counts['tried']} tried, {counts['clean']} clean, {counts['tracebacks']} tracebacks, "
        f"{counts['refused']} refused with one line or usage, {counts['accepted']} accepted, "
        f"{len(tally.problems)} with a problem"
    )
    for problem in tally.problems:
        print(problem)
    assert counts["tried"] >= 450
    assert not tally.problems, f"{len(tally.problems)} cases went wrong; the first:\n" + "\n".join(tally.problems[:5])
