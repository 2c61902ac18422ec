"""Benchmark pre-rendering the demo FAQ while people use the app; prints JSON.

    python bench/prerender.py [--live 4]

In a fresh cache (a temporary AVATAR_CACHE), the shipped presenter and the demo FAQ: first a
baseline, `--live` lines said one after the other with nothing else running (a person's new
answer, rendered); then the background pre-renderer is started and, while it works, the same
number of other new lines are said every few seconds, and chat replies timed. Reports the
pre-rendering's wall time against the total duration of the answers it made (target <= 0.4x),
and the people's render latency with and without it running (medians), and chat reply p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

LINES = ["Thank you for waiting, I am looking at your order now.", "Let me check that with the warehouse for you.",
         "Your parcel left our depot this morning.", "I have sent you a new confirmation email.",
         "Is there anything else I can help you with today?", "I'm glad we could sort that out for you.",
         "Please keep your receipt until the refund arrives.", "Our team will call you back within the hour."]


def timed_say(avatar, line: str) -> float:
    start = time.perf_counter()
    answer = avatar.say(line)
    assert not answer.cached
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=4, help="new lines said by people in each phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AVATAR_CACHE"] = cache
        from avatar.service import open_service

        avatar = open_service()
        entries = avatar.chatbot.entries
        alone = [timed_say(avatar, line) for line in LINES[:args.live]]
        started = time.perf_counter()
        avatar.start_prerendering()
        during, chat_ms = [], []
        done = threading.Event()

        def people():
            for line in LINES[args.live:2 * args.live]:
                time.sleep(5)
                during.append(timed_say(avatar, line))
                for questions, _ in entries[:5]:
                    t = time.perf_counter()
                    avatar.reply(questions[0], "bench-session")
                    chat_ms.append(1000 * (time.perf_counter() - t))
            done.set()

        threading.Thread(target=people, daemon=True).start()
        while any(row["state"] == "waiting" for row in avatar.coverage()):
            time.sleep(1)
        wall = time.perf_counter() - started
        done.wait()
        presenter, _ = avatar.presenter(None)
        durations = [avatar.store.answer(avatar._key(text, presenter, None, True, avatar.render_config(None)),
                                         touch=False)["duration"] for _, text in entries]
        people_seconds = sum(during)  # the pre-renderer waited while these rendered
        print(json.dumps({
            "bench": "prerender", "answers": len(entries), "answers_seconds": round(sum(durations), 1),
            "prerender_wall_s": round(wall, 1), "ratio": round(wall / sum(durations), 3),
            "ratio_without_people_renders": round((wall - people_seconds) / sum(durations), 3),
            "people_render_s": {"alone_median": round(statistics.median(alone), 2),
                                "during_prerender_median": round(statistics.median(during), 2),
                                "during_prerender_max": round(max(during), 2)},
            "chat_reply_p95_ms_during": round(sorted(chat_ms)[int(0.95 * (len(chat_ms) - 1))], 2),
        }, indent=1))


if __name__ == "__main__":
    main()
