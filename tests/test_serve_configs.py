"""The new-run form's API against a real `tuitune serve`: the configuration's JSON schema carries
the pydantic models' own limits; a configuration is checked, saved as YAML and read back from a
config file's text exactly as `POST /runs` and `tuitune train --config` do, refusals naming their
field; `/files` lists what lies under the data roots and nothing outside them; the preflight reads
the demo model and the bundled sample through the warm probe, and refuses what the guard refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import running_server
from tests.trained_runs import home_env, new_home
from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASET, SAMPLE_DATASETS
from tuitune.client import Client
from tuitune.config import RunConfig, key_choices, key_limits, load_config, parse_config
from tuitune.errors import ConfigError
from tuitune.locations import DATA_FILE_SUFFIXES, declared
from tuitune.text.user_text import shorten

pytestmark = pytest.mark.integration

ROWS = '{"instruction": "Say hi.", "output": "Hi!"}\n' * 12


class Served:
    def __init__(self, url: str, root: Path, outside: Path) -> None:
        self.url, self.root, self.outside = url, root, outside
        self.http = httpx.Client(base_url=url, headers={"X-Tuitune-Client": "1"}, timeout=300)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> Iterator[Served]:
    """One server whose only data root is a folder laid out to test the listing."""
    home = new_home(tmp_path_factory, shared_models_dir, "serve-configs")
    base = tmp_path_factory.mktemp("configs")
    root, outside = base / "root", base / "outside"
    for folder in (root / "data" / "nested", root / "mymodel", root / ".hidden", root / "node_modules", outside):
        folder.mkdir(parents=True)
    (root / "data" / "train.jsonl").write_text(ROWS)
    (root / "data" / "nested" / "more.csv").write_text("instruction,output\nSay hi.,Hi!\n")
    (root / "data" / "notes.md").write_text("not data")
    (root / "mymodel" / "config.json").write_text('{"model_type": "llama"}')
    (root / ".hidden" / "secret.jsonl").write_text(ROWS)
    (root / "node_modules" / "package.json").write_text("{}")
    (root / "a" / "b" / "c" / "d").mkdir(parents=True)
    (root / "a" / "b" / "c" / "d" / "too-deep.jsonl").write_text(ROWS)
    (outside / "secret.jsonl").write_text(ROWS)
    (outside / "model").mkdir()
    (outside / "model" / "config.json").write_text("{}")
    (root / "link-out.jsonl").symlink_to(outside / "secret.jsonl")
    (root / "link-in.jsonl").symlink_to(root / "data" / "train.jsonl")
    (root / "folder-out").symlink_to(outside, target_is_directory=True)
    (root / "model-out").symlink_to(outside / "model", target_is_directory=True)
    with home_env(home), running_server("--data-root", str(root), home=home) as url:
        served = Served(url, root, outside)
        yield served
        served.http.close()
    from tests.conftest import stop_leftover_processes

    stop_leftover_processes(home)


def test_the_schema_carries_the_models_limits_choices_and_defaults(served: Served) -> None:
    answer = served.http.get("/config/schema").json()
    schema = answer["schema"]
    assert schema == RunConfig.model_json_schema()
    checked = 0
    for key, _annotation in declared(RunConfig):
        section, _, name = key.rpartition(".")
        node = schema["$defs"][schema["properties"][section]["$ref"].split("/")[-1]] if section else schema
        prop = node["properties"][name]
        arms = [arm for arm in prop.get("anyOf", [prop]) if arm.get("type") != "null"]
        limits = key_limits(key)
        if limits.minimum is not None:
            bound = "exclusiveMinimum" if limits.exclusive_minimum else "minimum"
            assert any(arm.get(bound) == limits.minimum for arm in arms), key
            checked += 1
        if limits.maximum is not None:
            bound = "exclusiveMaximum" if limits.exclusive_maximum else "maximum"
            assert any(arm.get(bound) == limits.maximum for arm in arms), key
            checked += 1
        choices = key_choices(key)
        if choices and len(arms) == 1:
            assert arms[0]["enum"] == list(choices), key
    assert checked > 40  # every section's bounds were compared, not a handful
    assert answer["demo_model"] == DEMO_MODEL
    assert answer["samples"] == list(SAMPLE_DATASETS)
    assert answer["data_suffixes"] == list(DATA_FILE_SUFFIXES)
    assert answer["demo_datasets"]["sft"] == SAMPLE_DATASET


def test_check_yaml_and_parse_round_trip_as_post_runs_and_a_config_file_do(served: Served, tmp_path: Path) -> None:
    given = {
        "name": "round trip: é/…",
        "method": "qlora",
        "lora": {"r": 16},
        "training": {"learning_rate": 1e-3, "max_steps": 4},
        "evaluation": {"metrics": ["rouge1", "bleu"]},
    }
    expected = parse_config(given)
    checked = served.post("/config/check", given).json()
    assert checked["config"] == expected.to_dict()
    assert checked["notes"] == expected.notes  # qlora turned 4-bit loading on, and says so
    with Client(served.url) as client:  # the Python client checks a mapping or a RunConfig the same way
        assert client.check_config(given) == checked
        assert client.check_config(expected)["config"] == checked["config"]

    saved = served.post("/config/yaml", given)
    assert saved.status_code == 200
    assert saved.headers["content-disposition"] == 'attachment; filename="round-trip.yaml"'
    assert saved.text == expected.to_yaml()
    assert yaml.safe_load(saved.text) == expected.to_dict()

    read = served.post("/config/parse", {"text": saved.text, "filename": "run.yaml"}).json()
    assert read["config"] == expected.to_dict()
    as_json = served.post("/config/parse", {"text": expected.to_json(), "filename": "run.json"}).json()
    assert as_json["config"] == expected.to_dict()
    # A file saved by the form is the file the CLI trains from.
    (tmp_path / "run.yaml").write_text(saved.text)
    assert load_config(tmp_path / "run.yaml").to_dict() == expected.to_dict()


def test_refusals_name_their_field_in_the_words_of_post_runs_and_the_cli(served: Served, tmp_path: Path) -> None:
    bad_rate = {"training": {"learning_rate": -1}}
    for path in ("/config/check", "/config/yaml", "/runs"):
        refused = served.post(path, bad_rate)
        assert refused.status_code == 422, path
        assert refused.json()["field"] == "training.learning_rate"
        assert refused.json()["detail"].startswith("training.learning_rate in request: ")

    # The guard's refusals name the key too: a dataset outside the data roots, a Hub model.
    outside = served.post("/config/check", {"data": {"source": str(served.outside / "secret.jsonl")}}).json()
    assert outside["field"] == "data.source" and "outside the folders this server may use" in outside["detail"]
    hub = served.post("/config/check", {"model": {"name_or_path": "gpt2"}}).json()
    assert hub["field"] == "model.name_or_path" and "--allow-hub" in hub["detail"]

    # A config file's text is refused as `tuitune train --config FILE` refuses the same file.
    for text in ("method: [\n", "training:\n  epochs: -1\n", "lora:\n  rank: 8\n", "a: &x 1\nb: *x\n"):
        file = tmp_path / "bad.yaml"
        file.write_bytes(text.encode())
        with pytest.raises(ConfigError) as cli:
            load_config(file)
        refused = served.post("/config/parse", {"text": text, "filename": "bad.yaml"})
        assert refused.status_code == 422
        assert refused.json()["detail"] == str(cli.value).replace(shorten(file), "bad.yaml")
        assert refused.json().get("field") == cli.value.field
    assert served.post("/config/parse", {"text": "lora:\n  rank: 8\n"}).json()["field"] == "lora.rank"


def test_files_lists_what_lies_under_the_data_roots_and_nothing_outside(served: Served) -> None:
    data = served.http.get("/files", params={"kind": "data"}).json()
    assert data["roots"] == [str(served.root.resolve())]
    paths = [choice["path"] for choice in data["choices"]]
    assert paths[: len(SAMPLE_DATASETS)] == list(SAMPLE_DATASETS)
    root = served.root.resolve()
    listed = {Path(path).relative_to(root).as_posix() for path in paths[len(SAMPLE_DATASETS) :]}
    assert listed == {"data/train.jsonl", "data/nested/more.csv", "link-in.jsonl"}
    # Not a link to a file outside, nor a folder outside, nor hidden or too deep, nor not data.
    assert not any("secret" in path or "too-deep" in path or "notes.md" in path for path in paths)
    assert all(Path(path).resolve().is_relative_to(root) for path in paths[len(SAMPLE_DATASETS) :])

    models = served.http.get("/files", params={"kind": "model"}).json()
    model_paths = [choice["path"] for choice in models["choices"]]
    assert model_paths == [DEMO_MODEL, str(root / "mymodel")]  # the link to a model outside is left out
    assert served.http.get("/files", params={"kind": "secrets"}).status_code == 422


def test_the_preflight_reads_the_demo_model_and_the_sample_through_the_probe(served: Served) -> None:
    model = served.post("/preflight/model", {"name": DEMO_MODEL}).json()
    assert model["model"]["architecture"] == "LlamaForCausalLM"
    assert model["model"]["parameters"] > 0
    assert model["recommendation"]["method"] in ("lora", "qlora", "full_finetuning")

    data = served.post("/preflight/data", {"source": SAMPLE_DATASET, "model": DEMO_MODEL, "max_length": 64}).json()
    assert data["format"] == "alpaca" and data["rows"] > 100 and data["max_length"] == 64
    assert data["tokens"]["max"] > 0
    sample = data["previews"][0]
    assert [segment["trained"] for segment in sample["segments"]] == [False, True]  # the prompt, then the answer

    # A file under the root, named as the form lists it.
    own = served.post("/preflight/data", {"source": str(served.root / "data" / "train.jsonl"), "max_length": 64})
    assert own.status_code == 200 and own.json()["rows"] == 12

    check = served.post("/preflight/check", {"config": {"data": {"max_length": 64}}}).json()
    assert check["format"] == "alpaca" and check["train"] > 0


def test_the_preflight_refuses_what_the_guard_refuses_before_reading_anything(served: Served) -> None:
    outside = served.post("/preflight/data", {"source": str(served.outside / "secret.jsonl")})
    assert outside.status_code == 422 and outside.json()["field"] == "data.source"
    assert "outside the folders this server may use" in outside.json()["detail"]
    linked = served.post("/preflight/data", {"source": str(served.root / "link-out.jsonl")})
    assert linked.status_code == 422 and "outside the folders" in linked.json()["detail"]
    hub = served.post("/preflight/model", {"name": "Qwen/Qwen2.5-0.5B"})
    assert hub.status_code == 422 and hub.json()["field"] == "model.name_or_path"
    assert "was not started to reach the Hub" in hub.json()["detail"]
    hub_data = served.post("/preflight/data", {"source": "someone/dataset"})
    assert hub_data.status_code == 422 and hub_data.json()["field"] == "data.source"
    outside_model = served.post("/preflight/model", {"name": str(served.outside / "model")})
    assert outside_model.status_code == 422 and "outside the folders" in outside_model.json()["detail"]
    # What the probe itself cannot read comes back in its words, as a 4xx.
    missing = served.post("/preflight/data", {"source": str(served.root / "missing.jsonl")})
    assert missing.status_code == 400 and "does not exist" in missing.json()["detail"]
