"""The dashboard's New run page in a real browser: a run started from the form (the demo model on
the bundled sample, with the model's and the data's checks beside their boxes) trains to the end;
a refused field shows the API's own words beside that field; a config file read into the form is
saved back as the same YAML. One server and one browser for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.trained_runs import home_env, new_home
from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASET
from tuitune.config import parse_config
from tuitune.store import COMPLETED

pytestmark = [pytest.mark.slow, pytest.mark.serial]

expect.set_options(timeout=60_000)  # a busy CI machine; the first probe imports transformers


class Served:
    def __init__(self, url: str, root: Path, outside: Path) -> None:
        self.url, self.root, self.outside = url, root, outside


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> Iterator[Served]:
    from tests.helpers import running_server

    home = new_home(tmp_path_factory, shared_models_dir, "new-run-page")
    base = tmp_path_factory.mktemp("new-run-data")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"instruction": "Say hi.", "output": "Hi!"}\n' * 8)
    with home_env(home), running_server("--data-root", str(root), home=home) as url:
        yield Served(url, root, outside)
    from tests.conftest import stop_leftover_processes

    stop_leftover_processes(home)


class Watched:
    """A page, with the errors it raised."""

    def __init__(self, browser: Any, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def fits(self) -> bool:
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))

    def open_form(self, url: str) -> Any:
        page = self.page
        page.goto(f"{url}/#/new")
        expect(page.locator("#model-preflight[data-state=ready]")).to_be_visible()
        expect(page.locator("#data-preflight[data-state=ready]")).to_be_visible()
        return page

    def close(self) -> None:
        self.context.close()


def field(page: Any, key: str) -> Any:
    return page.locator(f'[data-key="{key}"]')


def test_a_run_started_from_the_form_trains_to_completion(served: Served, browser: Any) -> None:
    watched = Watched(browser)
    page = watched.open_form(served.url)
    assert page.locator("#f-model-name-or-path").input_value() == DEMO_MODEL
    assert page.locator("#f-data-source").input_value() == SAMPLE_DATASET
    # The wizard's checks: the model's architecture and the recommendation, the data as trained.
    expect(page.locator("#model-architecture")).to_contain_text("LlamaForCausalLM")
    expect(page.locator("#recommendation")).to_contain_text("Recommended")
    expect(page.locator("#data-facts")).to_contain_text("alpaca")
    # Samples as the model sees them: the answer marked as trained, the prompt not.
    assert page.locator("#data-preflight .sample").count() >= 1
    assert page.locator("#data-preflight .sample mark.trained").first.inner_text().strip()
    # What the form offers to pick from.
    assert SAMPLE_DATASET in page.locator("#data-choices option").evaluate_all("options => options.map(o => o.value)")

    assert watched.fits()

    # Keyboard only: type into the boxes, Enter launches (the data is read again for the new length).
    page.locator("#f-data-max-length").fill("64")
    page.locator("#f-data-max-length").press("Tab")
    expect(page.locator("#data-preflight[data-state=ready]")).to_contain_text("Rows")
    page.locator("#f-name").fill("from the form")
    page.locator("#f-training-max-steps").fill("4")
    page.locator("#f-training-max-steps").press("Enter")

    page.wait_for_url("**/#/runs/*", timeout=60_000)
    run_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_function(
        "status => document.querySelector('#status')?.dataset.status === status", arg=COMPLETED, timeout=300_000
    )
    run = httpx.get(f"{served.url}/runs/{run_id}", timeout=30).json()
    config = httpx.get(f"{served.url}/runs/{run_id}/config", timeout=30).json()
    assert run["name"] == "from the form" and run["status"] == COMPLETED
    assert config["training"]["max_steps"] == 4 and config["data"]["max_length"] == 64
    assert config["model"]["name_or_path"] == DEMO_MODEL and config["data"]["source"] == SAMPLE_DATASET

    # The form starts again from that run's configuration.
    page.goto(f"{served.url}/#/new?from={run_id}")
    expect(page.locator("#f-training-max-steps")).to_have_value("4")
    expect(page.locator("#f-data-max-length")).to_have_value("64")
    assert not watched.errors, watched.errors
    watched.close()


def test_a_refused_field_shows_the_apis_words_beside_it(served: Served, browser: Any) -> None:
    watched = Watched(browser)
    page = watched.open_form(served.url)
    before = httpx.get(f"{served.url}/runs", timeout=30).json()["total"]

    page.locator("#f-training-learning-rate").fill("-1")
    page.locator("#launch").click()
    refused = httpx.post(f"{served.url}/config/check", json={"training": {"learning_rate": -1}}, timeout=30).json()
    rate = field(page, "training.learning_rate")
    expect(rate.locator(".field-error")).to_have_text(refused["detail"])
    expect(page.locator("#f-training-learning-rate")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("document.activeElement.id") == "f-training-learning-rate"

    # A dataset outside the server's data roots: the guard's words, beside the dataset box.
    page.locator("#f-training-learning-rate").fill("")
    outside = str(served.outside / "secret.jsonl")
    page.locator("#f-data-source").fill(outside)
    page.locator("#enqueue").click()
    source = field(page, "data.source")
    expect(source.locator(".field-error")).to_contain_text("is outside the folders this server may use")
    expect(page.locator("#f-data-source")).to_have_attribute("aria-invalid", "true")
    assert rate.locator(".field-error").count() == 0  # the earlier refusal is gone
    assert page.locator("#f-training-learning-rate").get_attribute("aria-invalid") is None
    # The data check beside the box says the same, and nothing was started.
    expect(page.locator("#data-preflight")).to_contain_text("outside the folders")
    assert httpx.get(f"{served.url}/runs", timeout=30).json()["total"] == before
    assert page.locator("#banner").is_hidden()
    assert not watched.errors, watched.errors
    watched.close()


def test_a_config_file_read_into_the_form_saves_back_as_the_same_yaml(
    served: Served, browser: Any, tmp_path: Path
) -> None:
    given = parse_config(
        {
            "name": "uploaded",
            "method": "full_finetuning",
            "data": {"max_length": 128, "packing": False, "validation_split": 0.2},
            "training": {"learning_rate": 5e-5, "max_steps": 3, "lr_scheduler": "linear", "fp16": False},
            "evaluation": {"metrics": ["rouge1", "bleu"]},
            "lora": {"r": 4},  # full fine-tuning ignores it, and the file keeps it
        }
    )
    file = tmp_path / "uploaded.yaml"
    file.write_text(given.to_yaml())
    watched = Watched(browser, width=390)  # a phone
    page = watched.open_form(served.url)
    page.set_input_files("#upload-config", str(file))
    expect(page.locator("#form-status")).to_contain_text("Read uploaded.yaml")
    expect(page.locator("#f-method")).to_have_value('"full_finetuning"')
    assert page.locator("#section-lora").is_hidden()  # full fine-tuning trains no adapter
    with page.expect_download() as download:
        page.locator("#save-config").click()
    saved = download.value
    assert saved.suggested_filename == "uploaded.yaml"
    assert Path(saved.path()).read_text() == file.read_text()
    assert watched.fits()

    # A file that is not a configuration is refused in the CLI's words, in the banner.
    (tmp_path / "broken.yaml").write_text("training:\n  epochs: [\n")
    page.set_input_files("#upload-config", str(tmp_path / "broken.yaml"))
    expect(page.locator("#banner")).to_contain_text("broken.yaml is not valid YAML")
    assert not watched.errors, watched.errors
    watched.close()
