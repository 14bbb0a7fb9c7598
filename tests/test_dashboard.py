"""The web dashboard in a real browser: a user opens `tuitune serve`'s page in headless Chromium
while a real demo run trains, watches it, cancels and resumes it; a server with a token shows
nothing until the token is given; run names are shown as text, never run as HTML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import running_server, wait_for
from tuitune.bundled import SAMPLE_PREFERENCE
from tuitune.client import Client
from tuitune.store import COMPLETED, open_store

# Each test starts a server and Chromium, whose page waits (30 s) a loaded machine can miss: serial.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

TOKEN = "a-long-enough-test-token-1234"
HOSTILE = "<img src=x onerror=alert(1)>"
expect.set_options(timeout=30_000)  # a busy CI machine


def config(name: str, steps: int = 6, **training: object) -> dict[str, Any]:
    return {
        "name": name,
        "method": "lora",
        "data": {"max_length": 64},
        "training": {"max_steps": steps, "logging_steps": 1, "save_steps": 1000, "learning_rate": 1e-3, **training},
    }


class Watched:
    """A page plus what it asked the network for and every dialog it opened (confirms are accepted)."""

    def __init__(self, browser: Any, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[Any] = []
        self.dialogs: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append((dialog.type, dialog.message))
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def points(self) -> int:
        return int(self.page.evaluate("document.querySelector('#loss-chart')?.dataset.points ?? '0'"))

    def wait_for_status(self, status: str, timeout: float = 300) -> None:
        self.page.wait_for_function(
            "status => document.querySelector('#status')?.dataset.status === status", arg=status, timeout=timeout * 1000
        )

    def fits(self) -> bool:
        """No sideways scrolling: the page fits its window."""
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def close(self) -> None:
        self.context.close()


def test_a_run_page_follows_training_live_and_its_buttons_cancel_and_resume(
    browser: Any, demo_model_path: Path
) -> None:
    with running_server() as url, Client(url) as client:
        # Far more steps than it will take before the cancel, few enough to end soon if the test fails.
        created = client.create_run(config("watched in a browser", steps=300), queue=False)
        watched = Watched(browser)
        page = watched.page
        page.goto(f"{url}/#/runs/{created['id']}")

        # The chart grows while the run trains: several different counts are seen along the way.
        seen: list[int] = []

        def grown() -> bool:
            seen.append(watched.points())
            return len({n for n in seen if n > 0}) >= 3 and seen[-1] >= 8

        wait_for(grown, timeout=300, interval=0.2, what="the loss chart to grow")
        assert seen == sorted(seen), seen  # it never shrinks
        assert page.locator("#progress-line").inner_text().startswith("step ")
        assert page.locator("#card-memory").inner_text().startswith("CPU run")  # the demo trains on the CPU here
        assert page.locator("#key-charts").count() == 0  # an sft run has no key curves beside its loss

        page.click("#cancel")
        assert (
            watched.dialogs and watched.dialogs[0][0] == "confirm" and "watched in a browser" in watched.dialogs[0][1]
        )
        watched.wait_for_status("cancelled")
        stopped_at = client.run(created["id"])["steps_done"]
        assert stopped_at >= 8

        page.fill("#resume-steps", str(stopped_at + 4))
        page.click("#resume")
        watched.wait_for_status(COMPLETED)

        # What the page shows is what the store holds, every step once.
        points = client.metrics(created["id"])
        steps = {point["step"] for point in points}
        wait_for(lambda: watched.points() == len(steps), timeout=30, what="the last points drawn")
        assert watched.points() == stopped_at + 4
        assert page.locator("#progress-line").inner_text().startswith(f"step {stopped_at + 4} / {stopped_at + 4}")
        events = in_browser_words(page, [event["message"] for event in client.events(created["id"])][-200:])
        shown = page.locator("#events li span:not(.when)").all_text_contents()
        assert shown == events  # in order, none twice (the resumed stream resends nothing twice)
        # Advice is given in the page's terms: the button to press, not a command to type.
        assert f"cancelled at step {stopped_at}; press Resume to go on" in shown
        assert not [line for line in shown if "`tuitune" in line or "--max-steps" in line]
        expect(page.locator("#log")).to_contain_text("completed")

        # Nothing came from anywhere but this server: it works with no internet.
        assert all(request.url.startswith(url) for request in watched.requests), [
            r.url for r in watched.requests if not r.url.startswith(url)
        ]
        assert not watched.errors, watched.errors

        # The same run's stream as the server sends it: the page's reader parses it however it is
        # cut, and a page whose stream breaks mid-message reconnects and misses nothing.
        raw = httpx.get(f"{url}/runs/{created['id']}/stream", timeout=60).text
        assert_the_reader_parses_it_however_it_is_cut(page, raw, points)
        assert_a_page_reconnects_after_a_break(browser, f"{url}/#/runs/{created['id']}", raw, len(steps), events)
        watched.close()


def in_browser_words(page: Any, messages: list[str]) -> list[str]:
    """The messages as the page words them (its own table, tuitune/serve/static/js/wording.js)."""
    return page.evaluate(
        """async (messages) => {
            const { forTheBrowser } = await import("/static/js/wording.js");
            return messages.map(forTheBrowser);
        }""",
        messages,
    )


def assert_the_reader_parses_it_however_it_is_cut(page: Any, raw: str, points: list[dict[str, Any]]) -> None:
    parsed = page.evaluate(
        """async ([text, sizes]) => {
            const { EventStreamParser } = await import("/static/js/sse.js");
            return sizes.map((size) => {
                const got = [];
                const parser = new EventStreamParser((m) => got.push([m.event, m.id, JSON.parse(m.data)]));
                for (let i = 0; i < text.length; i += size) parser.feed(text.slice(i, i + size));
                return got;
            });
        }""",
        [raw, [len(raw), 1, 2, 3, 7, 64]],
    )
    whole = parsed[0]
    assert all(cut == whole for cut in parsed[1:])
    assert [data["id"] for kind, _, data in whole if kind == "point"] == [point["id"] for point in points]
    assert whole[-1][0] == "end" and whole[-1][2]["status"] == COMPLETED


def assert_a_page_reconnects_after_a_break(
    browser: Any, run_page: str, raw: str, steps: int, events: list[str]
) -> None:
    """The first stream stops just after the `id:` line of a message: the page must reconnect
    with the id of the last whole message it got, and end with every point and event once."""
    records = raw.split("\r\n\r\n")
    second_event = [i for i, record in enumerate(records) if "event: event" in record][1]
    broken_after = len("\r\n\r\n".join(records[: second_event + 1])) + 4 + records[second_event + 1].index("\n") + 1
    asked: list[str | None] = []

    def break_the_first_stream(route: Any) -> None:
        asked.append(route.request.headers.get("last-event-id"))
        if len(asked) == 1:
            route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=raw[:broken_after])
        else:
            route.continue_()

    watched = Watched(browser)
    watched.page.route("**/stream", break_the_first_stream)
    watched.page.goto(run_page)
    shown = watched.page.locator("#events li span:not(.when)")

    def reconnected() -> bool:
        count = shown.count()  # a call into Playwright also lets it run the route above
        return len(asked) >= 2 and count >= len(events[-200:])

    wait_for(reconnected, timeout=60, what="the page to reconnect")
    second_id = re.search(r"id: (\S+)", records[second_event])
    assert second_id is not None, records[second_event]
    assert asked[:2] == [None, second_id.group(1)]
    wait_for(lambda: watched.points() == steps, timeout=30, what="every point after the reconnect")
    assert shown.all_text_contents() == events[-200:]
    watched.close()


# What a key chart draws: [steps, training values, evaluated values] (its StepChart's data).
DRAWN = "id => document.getElementById(id).stepChart.data"


def test_a_dpo_runs_page_draws_its_reward_margin_and_accuracy_live_beside_the_loss(
    browser: Any, demo_model_path: Path
) -> None:
    dpo = {
        "name": "dpo in a browser",
        "method": "lora",
        "objective": "dpo",
        "data": {"source": SAMPLE_PREFERENCE, "max_samples": 40, "validation_split": 8},
        "training": {"max_steps": 6, "logging_steps": 1, "eval_steps": 3, "save_steps": 1000},
    }
    with running_server() as url, Client(url) as client:
        client.pause(True)  # the page is open before the first step: every point reaches it live
        created = client.create_run(dpo)
        watched = Watched(browser)
        page = watched.page
        page.goto(f"{url}/")
        row = page.locator(f"tr[data-run-id='{created['id']}']")
        expect(row.locator("td[data-label='Objective']")).to_have_text("dpo")

        page.goto(f"{url}/#/runs/{created['id']}")
        expect(page.locator("#run-facts")).to_contain_text("lora · objective dpo")
        headings = page.locator("#key-charts h2").all_inner_texts()
        assert headings == ["Reward margin", "Reward accuracy"]
        charts = {"#key-chart-0": "rewards/margins", "#key-chart-1": "rewards/accuracies"}
        assert [page.locator(chart).get_attribute("data-key") for chart in charts] == list(charts.values())
        assert all(page.locator(chart).get_attribute("data-points") == "0" for chart in charts)

        client.pause(False)
        watched.wait_for_status(COMPLETED)
        points = client.metrics(created["id"])
        for chart, key in charts.items():
            # The steps that logged it (six trained, two evaluated), and exactly the stored values.
            trained = {p["step"]: p["extra"][key] for p in points if p["loss"] is not None}
            evaluated = {p["step"]: p["extra"][f"eval_{key}"] for p in points if p["eval_loss"] is not None}
            steps = sorted({*trained, *evaluated})

            def drawn_all(chart: str = chart, steps: list[int] = steps) -> bool:
                return bool(page.evaluate(DRAWN, chart[1:])[0] == steps)

            wait_for(drawn_all, timeout=30, what=chart)
            drawn_steps, drawn, drawn_evals = page.evaluate(DRAWN, chart[1:])
            assert drawn_steps == [1, 2, 3, 4, 5, 6] and sorted(evaluated) == [3, 6]
            assert drawn == [trained.get(step) for step in steps]
            assert drawn_evals == [evaluated.get(step) for step in steps]
        # The legend reads the accuracy as a share of pairs.
        legend = page.locator("#key-chart-1 .u-legend").inner_text()
        assert "reward accuracy" in legend and "eval reward accuracy" in legend
        assert watched.points() == 6  # the loss chart, as before
        assert not watched.errors, watched.errors
        watched.close()


def test_the_runs_page_shows_the_queue_in_order_and_names_as_text(browser: Any) -> None:
    with running_server() as url, Client(url) as client:
        client.pause(True)
        hostile = client.create_run(config(HOSTILE))
        second = client.create_run(config("second in line"))
        watched = Watched(browser)
        page = watched.page
        page.goto(f"{url}/")
        first_row = page.locator(f"tr[data-run-id='{hostile['id']}']")
        expect(first_row.locator(".status")).to_have_text("queued 1/2")
        expect(page.locator(f"tr[data-run-id='{second['id']}'] .status")).to_have_text("queued 2/2")
        assert first_row.locator("td.name a").inner_text() == HOSTILE
        assert page.locator("#runs img").count() == 0
        expect(page.locator("#queue-line")).to_contain_text("2 waiting")
        expect(page.locator("#queue-line")).to_contain_text("paused")

        # The filter asks the server: only the matching run stays.
        page.fill("#run-filter", "second")
        expect(page.locator("#runs tbody tr")).to_have_count(1)
        page.fill("#run-filter", "")
        expect(page.locator("#runs tbody tr")).to_have_count(2)

        first_row.locator("td.name a").click()
        expect(page.locator("#run-name")).to_have_text(HOSTILE)
        expect(page.locator("#status")).to_have_text("queued 1/2")
        assert page.title() == f"tuitune · {HOSTILE}" and page.locator("main img").count() == 0

        page.click("#cancel")
        watched.wait_for_status("cancelled", timeout=60)
        assert open_store().get_run(hostile["id"]).status == "cancelled"
        # A waiting run is simply taken out of the queue: nothing to finish, nothing to save.
        assert "It has not started: it leaves the queue" in watched.dialogs[-1][1]
        page.click("text=← All runs")
        expect(page.locator(f"tr[data-run-id='{second['id']}'] .status")).to_have_text("queued 1/1")

        # A narrow window: the runs become cards, nothing scrolls sideways.
        page.set_viewport_size({"width": 380, "height": 800})
        assert watched.fits()
        page.goto(f"{url}/#/runs/{second['id']}")
        expect(page.locator("#run-name")).to_have_text("second in line")
        assert watched.fits()

        assert [kind for kind, _ in watched.dialogs] == ["confirm"]  # the cancel; never an alert
        assert not watched.errors, watched.errors
        watched.close()


# The width of the placeholder's text against the room inside its field (less the spin buttons).
PLACEHOLDER_ROOM = """() => {
  const field = document.querySelector('#resume-steps');
  const style = getComputedStyle(field);
  const context = document.createElement('canvas').getContext('2d');
  context.font = style.font;
  const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
  return [field.placeholder, context.measureText(field.placeholder).width, room];
}"""


def test_the_resume_fields_placeholder_is_read_whole_at_any_width(browser: Any) -> None:
    from tuitune._dev.sample_runs import populate

    runs = {run.status: run for run in populate(open_store())}
    with running_server() as url:
        watched = Watched(browser)
        page = watched.page
        for width in (1280, 380):
            page.set_viewport_size({"width": width, "height": 800})
            for status, placeholder in (("cancelled", "to step (optional)"), ("completed", "to step…")):
                page.goto(f"{url}/#/runs/{runs[status].id}")
                expect(page.locator("#resume-steps")).to_be_visible()
                shown, needs, room = page.evaluate(PLACEHOLDER_ROOM)
                assert shown == placeholder and needs <= room, (width, shown, needs, room)  # not "to step (op"
        assert not watched.errors, watched.errors
        watched.close()


def test_a_server_with_a_token_shows_nothing_until_the_token_is_given(browser: Any) -> None:
    with running_server("--token", TOKEN) as url, Client(url, token=TOKEN) as client:
        client.pause(True)
        created = client.create_run(config("behind the token"))
        watched = Watched(browser)
        page = watched.page
        page.goto(f"{url}/")
        expect(page.locator("#token-prompt")).to_be_visible()
        assert page.locator("#runs").count() == 0 and "behind the token" not in page.content()

        page.fill("#token-input", "not-the-token-but-long-enough")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#token-error")).to_have_text("The server refused this token.")
        assert page.locator("#runs").count() == 0

        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        expect(page.locator(f"tr[data-run-id='{created['id']}'] td.name")).to_have_text("behind the token")
        expect(page.locator("#token-prompt")).to_be_hidden()

        # The run page's stream carries the token in a header too.
        page.click("text=behind the token")
        expect(page.locator("#status")).to_have_text("queued 1/1")
        streams = [request for request in watched.requests if request.url.endswith(f"/runs/{created['id']}/stream")]
        assert streams and all(request.headers.get("authorization") == f"Bearer {TOKEN}" for request in streams)

        # Never in a URL, never in localStorage; kept for this tab only.
        assert all(TOKEN not in request.url for request in watched.requests) and TOKEN not in page.url
        assert page.evaluate("sessionStorage.getItem('tuitune.token')") == TOKEN
        assert page.evaluate("localStorage.length") == 0
        page.reload()
        expect(page.locator("#run-name")).to_have_text("behind the token")

        stranger = Watched(browser)
        stranger.page.goto(f"{url}/#/runs/{created['id']}")
        expect(stranger.page.locator("#token-prompt")).to_be_visible()
        assert stranger.page.locator("#run-name").count() == 0
        stranger.close()
        watched.close()


def test_the_api_docs_page_works_with_no_internet(browser: Any) -> None:
    """`/docs` on a GPU box with no internet: Swagger UI's files come from the package, so the
    page lists the routes; any request that leaves the loopback address is refused and recorded."""
    with running_server() as url:
        context = browser.new_context()
        page = context.new_page()
        outside: list[str] = []

        def only_loopback(route: Any) -> None:
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        page.goto(f"{url}/docs")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/runs" in [path.strip() for path in paths]
        assert outside == []
        context.close()
