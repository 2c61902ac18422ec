"""A person's view: headless Chromium types a question and watches the presenter answer."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
         "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (`make setup` installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def test_ask_in_the_browser_and_the_answer_plays(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)  # the greeting
    box = page.get_by_placeholder("Type your question")
    box.fill("Where is my order?")
    box.press("Enter")
    page.get_by_text("Your order confirmation email has a tracking link").first.wait_for(timeout=60_000)
    video = page.locator("video").first
    video.wait_for(timeout=120_000)
    page.wait_for_function("() => { const v = document.querySelector('video');"
                           " return v && v.readyState >= 2 && v.currentTime > 0.2; }", timeout=120_000)
    duration = page.evaluate("() => document.querySelector('video').duration")
    assert duration > 3
    # Drawn by the exemplar renderer in his own scene: his own video's frame, not the driver's.
    size = page.evaluate("() => [document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]")
    assert size == [400, 300]
    # His recorded answers can be drawn in his room or in the recording's frame: the choice is offered.
    assert page.get_by_text("in your recording's frame").first.is_visible()
    page.screenshot(path=str(tmp_path / "app.png"))
    assert (tmp_path / "app.png").stat().st_size > 20_000


def test_what_a_person_types_is_shown_as_text(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)
    typed = "<img src=x onerror=alert(1)> is this **bold**?"
    box = page.get_by_placeholder("Type your question")
    box.fill(typed)
    box.press("Enter")
    page.get_by_text(typed).first.wait_for(timeout=60_000)  # shown as typed, markup and all
    assert page.locator(".message img, [data-testid='user'] img").count() == 0


def test_a_visitors_recording_survives_a_reload(server, browser, franck_clip):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server)
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Record a driver answer").click()
    line = "Thank you for calling Juniper and Co."
    page.get_by_label("Line to say (a bot reply)").fill(line)
    page.locator("#recording").get_by_label("Upload file").or_(
        page.locator("#recording button[aria-label*='pload']")).first.click()
    page.locator("#recording input[type=file]").set_input_files(str(franck_clip))
    page.locator("#recording video").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Save and preview").click()
    page.get_by_text("Saved (2.0 s").first.wait_for(timeout=180_000)
    page.reload()  # the same browser, later: its recordings are still its own
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Record a driver answer").click()
    page.get_by_text("Your recorded lines (1)").first.wait_for(timeout=30_000)
    other = browser.new_context().new_page()  # another browser: not theirs
    other.goto(server)
    other.get_by_text("not a real person").first.wait_for(timeout=60_000)
    other.get_by_role("tab", name="Record a driver answer").click()
    other.wait_for_timeout(2000)
    assert other.get_by_text("Your recorded lines").count() == 0
    context.close()
