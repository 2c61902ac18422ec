"""Benchmark what a visitor waits for in a real browser: send -> the reply's text, send -> the first
frame of its (new, never rendered) answer playing; prints JSON.

    python bench/first_frame.py [--questions 10] [--visitors 4]

Serves app.py (fresh cache, pre-rendering off, the shipped presenter) and drives headless
Chromium as the UI tests do. One visitor asks `--questions` questions of the demo FAQ whose answers
differ, one after another, each after the last answer played to its end: p50/p95 of send -> text
and send -> first frame playing. Then `--visitors` pages ask at once (new answers again) and each
answer is watched to its end: how many stalled (the player waited for data after it had started)
and for how long. The first question of the fresh install is reported on its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]

# The answer that plays: the presenter's answer player (see avatar/ui/player.py), else the first video.
WATCH = """() => {
  window.__answers = [];
  const latest = v => window.__answers.filter(a => a.video === v).pop();
  document.addEventListener('playing', e => { const v = e.target, last = latest(v);
    if (v.classList.contains('idle') || (last && last.src === v.currentSrc)) return;  // a new answer only
    window.__answers.push({src: v.currentSrc, at: performance.now(), stalls: 0, stalled: 0, waitingSince: null,
                           video: v}); }, true);
  document.addEventListener('waiting', e => { const a = latest(e.target);
    if (a && a.src === e.target.currentSrc && !e.target.ended) {
      a.stalls += 1; a.waitingSince = performance.now(); } }, true);
  document.addEventListener('timeupdate', e => { const a = latest(e.target);
    if (a && a.waitingSince !== null) {
      a.stalled += performance.now() - a.waitingSince; a.waitingSince = null; } }, true);
}"""


def questions() -> list[str]:
    """The first phrasing of each demo FAQ answer (each a different answer)."""
    with open(ROOT / "assets" / "chat" / "demo-shop.csv", newline="", encoding="utf-8") as f:
        return [row["question"].split("|")[0] for row in csv.DictReader(f)]


def serve(cache: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AVATAR_PORT": str(port), "AVATAR_CACHE": str(cache), "AVATAR_PRERENDER": "0",
           "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(tmp)}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1)
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("app.py did not start")


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url)
    page.get_by_placeholder("Type your question").wait_for(timeout=120_000)
    page.evaluate(WATCH)
    return page


def ask(page, question: str) -> float:
    """Send `question`; returns the page time it was sent (ms)."""
    box = page.get_by_placeholder("Type your question")
    box.fill(question)
    sent = page.evaluate("() => performance.now()")
    box.press("Enter")
    return sent


def wait_text(page, count: int) -> float:
    """Page time (ms) when the chat shows `count` bot messages."""
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=bot]').length >= {count}",
                           timeout=120_000, polling=10)
    return page.evaluate("() => performance.now()")


def wait_playing(page, count: int) -> dict:
    """The `count`-th answer that started playing: when, and its element's progress."""
    page.wait_for_function(f"() => window.__answers.length >= {count} && "
                           f"window.__answers[{count - 1}].video.currentTime > 0", timeout=180_000, polling=10)
    return page.evaluate(f"() => {{ const a = window.__answers[{count - 1}]; return {{at: a.at}}; }}")


def wait_ended(page, count: int) -> dict:
    page.wait_for_function(f"() => {{ const a = window.__answers[{count - 1}];"
                           " return a.video.ended || a.video.currentSrc !== a.src; }", timeout=180_000, polling=50)
    return page.evaluate(f"() => {{ const a = window.__answers[{count - 1}]; "
                         "return {stalls: a.stalls, stalled_ms: a.stalled, duration: a.video.duration}; }")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--visitors", type=int, default=4)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    pool = questions()
    alone, together = pool[:args.questions], pool[args.questions:args.questions + args.visitors]
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
        process, url = serve(Path(cache), Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = open_page(browser, url)
                rows = []
                for i, question in enumerate(alone, start=1):
                    sent = ask(page, question)
                    text = wait_text(page, i + 1)  # the greeting is the first bot message
                    playing = wait_playing(page, i)
                    ended = wait_ended(page, i)
                    rows.append({"question": question, "text_s": round((text - sent) / 1000, 3),
                                 "first_frame_s": round((playing["at"] - sent) / 1000, 3),
                                 "video_s": round(ended["duration"], 2), "stalls": ended["stalls"]})
                pages = [open_page(browser, url) for _ in together]
                sent = [ask(p, q) for p, q in zip(pages, together)]
                crowd = []
                for p, s in zip(pages, sent):
                    playing = wait_playing(p, 1)
                    crowd.append({"first_frame_s": round((playing["at"] - s) / 1000, 3)})
                for p, row in zip(pages, crowd):
                    ended = wait_ended(p, 1)
                    row.update(stalls=ended["stalls"], stalled_s=round(ended["stalled_ms"] / 1000, 3),
                               video_s=round(ended["duration"], 2))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    later = rows[1:] or rows
    first = [r["first_frame_s"] for r in later]
    print(json.dumps({
        "bench": "first_frame", "machine": f"{os.cpu_count()} CPUs", "browser": "headless Chromium",
        "fresh_install_first_question": rows[0],
        "new_answers": {"count": len(later), "text_p50_s": round(statistics.median(r["text_s"] for r in later), 3),
                        "text_p95_s": percentile([r["text_s"] for r in later], 0.95),
                        "first_frame_p50_s": round(statistics.median(first), 3),
                        "first_frame_p95_s": percentile(first, 0.95),
                        "answers_with_stalls": sum(r["stalls"] > 0 for r in later)},
        f"{len(together)}_visitors_at_once": {
            "first_frame_p50_s": round(statistics.median(r["first_frame_s"] for r in crowd), 3),
            "first_frame_max_s": max(r["first_frame_s"] for r in crowd),
            "answers_with_stalls": sum(r["stalls"] > 0 for r in crowd),
            "stalled_share_of_playing": round(sum(r["stalled_s"] for r in crowd)
                                              / sum(r["video_s"] for r in crowd), 3)},
        "rows": rows, "crowd": crowd}, indent=1))


if __name__ == "__main__":
    main()
