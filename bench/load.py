"""Benchmark a busy day and an abusive client: does a ready answer still play at once? Prints JSON.

    python bench/load.py [--visitors 12] [--unread 20] [--ready-asks 3]

Serves app.py (a fresh cache, pre-rendering off, the shipped presenter and demo FAQ) and drives
one visitor in headless Chromium, as bench/first_frame.py does, beside many visitors played by
this script the way the page is (each its own session, asking through the chat's submit event in
Gradio's queue and opening its answer's live stream):

1. quiet: the browser asks new questions one after another: send -> first frame (p50/p95);
2. busy: `--visitors` visitors ask new questions at once and read their streams as the page does;
   meanwhile the browser asks questions whose answers are ready (rendered before), `--ready-asks`
   times: send -> first frame playing. The visitors' send -> first byte of their stream (p50/p95);
3. abuse (a fresh app): one client (one address) opens `--unread` sessions, asks a new question
   in each (8 at a time: more would fill Gradio's queue and be refused), opens its stream and
   never reads it; the browser asks ready answers as in 2, then a new one (send -> first frame),
   and the time until the streams all ended (their renders stopped) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_frame import CHROMIUM, FLAGS, ask, open_page, percentile, questions, serve, wait_playing  # noqa: E402


class Chat:
    """The page's chat event as Gradio's config describes it: the message box's submit."""

    def __init__(self, url: str):
        config = json.load(urllib.request.urlopen(f"{url}/config", timeout=30))
        box = next(c["id"] for c in config["components"]
                   if str(c.get("props", {}).get("placeholder", "")).startswith("Type your question"))
        event = next(d for d in config["dependencies"] if [box, "submit"] in d["targets"] and d.get("backend_fn"))
        self.url, self.fn_index, self.trigger = url, event["id"], box


class Visitor:
    """One visitor played as the page plays it: its own session; `ask` sends a question through the
    chat event and returns the player's value (the live stream's address, or a ready file's).
    `address`: where it comes from, as a reverse proxy on the app's machine names it
    (X-Forwarded-For, which the app's server trusts from 127.0.0.1)."""

    def __init__(self, chat: Chat, address: str):
        self.chat, self.session, self.address = chat, secrets.token_hex(8), address

    def ask(self, question: str) -> dict:
        body = json.dumps({"data": [question, [], None, None], "event_data": None, "fn_index": self.chat.fn_index,
                           "trigger_id": self.chat.trigger, "session_hash": self.session}).encode()
        request = urllib.request.Request(f"{self.chat.url}/gradio_api/queue/join", body,
                                         {"Content-Type": "application/json", "X-Forwarded-For": self.address})
        event = json.load(urllib.request.urlopen(request, timeout=60))["event_id"]
        data = f"{self.chat.url}/gradio_api/queue/data?session_hash={self.session}"
        with urllib.request.urlopen(data, timeout=300) as stream:
            for line in stream:
                if not line.startswith(b"data: "):
                    continue
                message = json.loads(line[6:])
                if message.get("event_id") == event and message.get("msg") == "process_completed":
                    if not message.get("success"):
                        raise RuntimeError(f"the chat refused: {message.get('output')}")
                    return message["output"]["data"][2]
        raise RuntimeError("the queue ended without an answer")


def read_stream(url: str, stage: dict) -> float | None:
    """Read a live answer to its end as the page's player does; seconds to its first byte (None: ready file)."""
    if not stage.get("live"):
        return None
    started = time.perf_counter()
    first = None
    with urllib.request.urlopen(f"{url}/{stage['answer']}", timeout=300) as stream:
        while stream.read(64 << 10):
            first = first if first is not None else time.perf_counter() - started
    return first


def open_unread(url: str, stage: dict) -> socket.socket:
    """Open a live answer's stream and never read it."""
    address = urllib.parse.urlparse(url)
    client = socket.create_connection((address.hostname, address.port))
    client.sendall(f"GET /{stage['answer']} HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
    return client


def stream_length(url: str, stage: dict) -> int:
    """The bytes a live answer streamed (read once it is over; its stream is kept a minute)."""
    with urllib.request.urlopen(f"{url}/{stage['answer']}", timeout=300) as stream:
        return len(stream.read())


def browser_first_frame(page, question: str, count: int) -> float:
    sent = ask(page, question)
    return round((wait_playing(page, count)["at"] - sent) / 1000, 3)


def prepare(url: str, chat: Chat, texts: list[str]) -> None:
    """Render the answers to `texts` (asked by a visitor reading them to the end)."""
    visitor = Visitor(chat, "192.0.2.1")
    for text in texts:
        read_stream(url, visitor.ask(text))


def summary(values: list[float]) -> dict:
    return {"count": len(values), "p50_s": round(statistics.median(values), 3),
            "p95_s": round(percentile(values, 0.95), 3), "max_s": round(max(values), 3)}


def busy_phase(browser, url: str, pool: list[str], args) -> dict:
    chat = Chat(url)
    ready, quiet, busy = pool[:args.ready_asks], pool[args.ready_asks:args.ready_asks + 4], pool[-args.visitors:]
    prepare(url, chat, ready)
    page = open_page(browser, url)
    count, alone = 0, []
    for question in quiet:  # new answers with nobody else asking
        count += 1
        alone.append(browser_first_frame(page, question, count))
        time.sleep(1)
    visitors = [Visitor(chat, f"198.51.100.{i + 1}") for i in range(len(busy))]  # 12 people

    with ThreadPoolExecutor(max_workers=len(visitors)) as pool_:
        sent_at = time.perf_counter()
        futures = [pool_.submit(_visit, url, v, q) for v, q in zip(visitors, busy)]
        time.sleep(2)  # every visitor's question is in: renders are queued
        during = []
        for question in ready:
            count += 1
            during.append(browser_first_frame(page, question, count))
            time.sleep(1)
        results = [f.result() for f in futures]
    page.close()
    return {"new_answers_quiet_first_frame": summary(alone),
            f"ready_answer_first_frame_while_{len(visitors)}_visitors_ask_new_ones": summary(during),
            f"{len(visitors)}_visitors_new_answer_first_byte": summary([r["first_byte_s"] for r in results]),
            f"{len(visitors)}_visitors_all_answered_s": round(max(r["done_at"] for r in results) - sent_at, 1)}


def _visit(url: str, visitor: Visitor, question: str) -> dict:
    """Ask `question` and read its stream: seconds from send to the stream's first byte, and when it ended."""
    started = time.perf_counter()
    stage = visitor.ask(question)
    asked = time.perf_counter() - started
    first = read_stream(url, stage)
    return {"first_byte_s": asked + (first or 0.0), "done_at": time.perf_counter()}


def abuse_phase(browser, url: str, pool: list[str], args) -> dict:
    chat = Chat(url)
    ready, fresh, attack = pool[:args.ready_asks], pool[args.ready_asks], pool[-args.unread:]
    prepare(url, chat, ready)
    page = open_page(browser, url)
    attackers = [Visitor(chat, "203.0.113.7") for _ in attack]  # one client, many sessions
    def attack_one(pair) -> tuple[dict, socket.socket | None]:
        stage = pair[0].ask(pair[1])
        return stage, open_unread(url, stage) if stage.get("live") else None

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool_:  # more at once would fill Gradio's queue (16): refused
        opened = list(pool_.map(attack_one, zip(attackers, attack)))
    stages, sockets = [stage for stage, _ in opened], [client for _, client in opened if client is not None]
    count, during = 0, []
    try:
        time.sleep(2)
        for question in ready:
            count += 1
            during.append(browser_first_frame(page, question, count))
            time.sleep(1)
        count += 1
        new_answer = browser_first_frame(page, fresh, count)  # a new answer behind the unread ones
        lengths = [stream_length(url, stage) for stage in stages if stage.get("live")]  # ends once each stopped
        stopped_after = time.perf_counter() - started
    finally:
        for client in sockets:
            client.close()
    page.close()
    return {f"ready_answer_first_frame_while_{len(sockets)}_streams_sit_unread": summary(during),
            "new_answer_first_frame_behind_them_s": new_answer,
            "unread_renders_all_stopped_after_s": round(stopped_after, 1),
            "unread_streams_bytes_median": int(statistics.median(lengths)) if lengths else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=12)
    parser.add_argument("--unread", type=int, default=20)
    parser.add_argument("--ready-asks", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    pool = questions()
    result = {"bench": "load", "machine": f"{os.cpu_count()} CPUs", "browser": "headless Chromium"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for phase in (busy_phase, abuse_phase):
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
                process, url = serve(Path(cache), Path(tmp))
                try:
                    result.update(phase(browser, url, pool, args))
                finally:
                    process.terminate()
                    process.wait(timeout=30)
        browser.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
