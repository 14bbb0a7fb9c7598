"""A finished run's page in a real browser: evaluate it and read the scores and samples the store
holds; export it and see the checked GGUF among its artifacts, then delete it with its folder; an
action the server refuses shows the server's words. The greeter (a run that learned the
greetings) is evaluated; a run trained here is exported and deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import running_server
from tests.trained_runs import Trained
from tuitune.client import Client, ClientError
from tuitune.store import COMPLETED

pytestmark = [pytest.mark.slow, pytest.mark.serial]
expect.set_options(timeout=120_000)  # an evaluation on a busy CI machine


@pytest.fixture(scope="module")
def server(greeter_home: Trained) -> Iterator[tuple[str, Client]]:
    with running_server(home=greeter_home.home) as url, Client(url) as client:
        yield url, client


def test_evaluate_from_the_page_shows_base_against_fine_tuned_and_the_samples(
    server: tuple[str, Client], greeter_home: Trained, page: Any
) -> None:
    url, client = server
    run_id = greeter_home.run_id
    page.goto(f"{url}/#/runs/{run_id}")
    expect(page.locator("#evaluation-scores")).to_contain_text("No evaluations yet")

    page.click("#evaluate")
    page.fill("#ask-samples", "3")
    expect(page.locator("#ask-compare_base")).to_be_checked()  # the app's default: before and after
    page.click("#action-dialog-confirm")
    expect(page.locator("#task-evaluation")).to_have_attribute("data-status", COMPLETED)

    # The page shows what the store holds: both models' scores, the change, the kept samples.
    evaluations = {e["label"]: e for e in client.evaluations(run_id)}
    tuned, base = evaluations["finetuned"], evaluations["base"]
    assert tuned["samples"] == base["samples"] == 3
    expect(page.locator("#evaluation-scores tbody tr")).to_have_count(len(tuned["metrics"]))
    perplexity = page.locator("#evaluation-scores tr[data-metric=perplexity] td")
    assert perplexity.nth(0).inner_text() == shown(base["metrics"]["perplexity"])
    assert perplexity.nth(1).inner_text() == shown(tuned["metrics"]["perplexity"])
    # The greeter learned its data: its perplexity fell, and a fall is better for perplexity.
    assert tuned["metrics"]["perplexity"] < base["metrics"]["perplexity"]
    assert perplexity.nth(2).inner_text().startswith("▼") and perplexity.nth(2).inner_text().endswith("better")
    samples = page.locator("#evaluation-samples article.sample")
    expect(samples).to_have_count(len(tuned["kept"]))
    first = tuned["kept"][0]
    assert samples.nth(0).locator(".answer.finetuned p").inner_text() == first["finetuned"].strip()
    assert samples.nth(0).locator(".answer.reference p").inner_text() == first["reference"].strip()
    # Its configuration, as the store keeps it, and a new run from it is one click away.
    config = client.config(run_id)
    page.click("#run-config summary")  # every setting, folded until asked for
    rate = page.locator("#run-config tr", has_text="training.learning_rate").locator("td")
    assert rate.inner_text() == str(config["training"]["learning_rate"])
    assert page.locator("#new-from-run").get_attribute("href") == f"#/new?from={run_id}"


def test_export_shows_the_checked_gguf_then_delete_removes_the_run_and_its_folder(
    server: tuple[str, Client], demo_model_path: Path, page: Any
) -> None:
    url, client = server
    created = client.create_run(
        {
            "name": "exported then deleted",
            "method": "lora",
            "data": {"max_length": 64},
            "training": {"max_steps": 2, "logging_steps": 1, "save_steps": 1000},
        },
        queue=False,
    )
    run = client.wait(created["id"], timeout=300)
    assert run["status"] == COMPLETED
    page.goto(f"{url}/#/runs/{run['id']}")

    page.click("#export")
    page.select_option("#ask-to", "gguf")
    page.select_option("#ask-quant", "f32")
    page.click("#action-dialog-confirm")
    expect(page.locator("#task-export")).to_have_attribute("data-status", COMPLETED)
    gguf = next(a for a in client.run(run["id"])["artifacts"] if a["kind"] == "gguf")
    shown_gguf = page.locator("#artifacts li[data-kind=gguf]")
    expect(shown_gguf).to_contain_text(gguf["path"])
    expect(shown_gguf).to_contain_text("round trip: max logit difference")
    assert Path(gguf["path"]).is_file()

    folder = Path(run["output_dir"])
    page.click("#delete")
    # A dangerous question starts on the safe answer, as the app's does.
    expect(page.locator("#action-dialog-cancel")).to_be_focused()
    expect(page.locator("#action-dialog")).to_contain_text(str(folder))
    page.check("#ask-files")
    page.click("#action-dialog-confirm")
    expect(page).to_have_url(f"{url}/#/")
    expect(page.locator("#banner")).to_contain_text(f"Deleted run {run['id']} (exported then deleted) and its folder.")
    with pytest.raises(ClientError):
        client.run(run["id"])
    assert not folder.exists()


def test_a_refused_action_shows_the_servers_words(server: tuple[str, Client], greeter_home: Trained, page: Any) -> None:
    url, _ = server
    page.goto(f"{url}/#/runs/{greeter_home.run_id}")
    page.click("#upload")
    page.fill("#ask-repo_id", "someone/greeter")
    page.fill("#ask-token", "hf_not_a_real_token_1234567890")
    page.click("#action-dialog-confirm")
    # This server was not started to reach the Hub: it says so, and how to allow it.
    expect(page.locator("#banner")).to_contain_text("Uploading to the Hugging Face Hub (someone/greeter) is off")
    expect(page.locator("#banner")).to_contain_text("--allow-hub")
    # The token typed is gone with its dialog: not in the page, not in the tab's storage.
    assert page.locator("#ask-token").count() == 0
    assert "hf_not_a_real" not in page.content()
    assert "hf_not_a_real" not in page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")


def test_a_note_and_tags_written_on_the_page_are_kept_and_found_by_the_runs_filter(
    server: tuple[str, Client], greeter_home: Trained, page: Any
) -> None:
    url, client = server
    run_id = greeter_home.run_id
    page.goto(f"{url}/#/runs/{run_id}")
    page.click("#edit-labels")
    page.fill("#label-tags", "x" * 45)
    page.click("#save-labels")
    expect(page.locator("#label-error")).to_contain_text("characters long")  # the server's words

    page.fill("#label-note", "<b>greets</b> well")
    page.fill("#label-tags", "Greeter baseline")
    page.click("#save-labels")
    expect(page.locator("#run-tags")).to_have_text("greeterbaseline")
    expect(page.locator("#run-note")).to_have_text("<b>greets</b> well")  # text, never HTML
    assert client.run(run_id)["tags"] == ["greeter", "baseline"]

    page.goto(f"{url}/#/")
    page.fill("#run-filter", "tag:greeter")
    expect(page.locator(f"tr[data-run-id='{run_id}'] .tag")).to_have_count(2)
    client.label(run_id, clear_notes=True, tags=[])  # the module's other tests see the run as it was


def shown(value: float) -> str:
    """A score as the page prints it: four significant digits."""
    rounded = float(f"{value:.4g}")
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)
