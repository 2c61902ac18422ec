"""The render lane (`avatar.serving.lane.RenderLane`): one job at a time, parties in turn, background
work only when no person holds or waits for it."""

import threading
import time

from avatar.serving.lane import RenderLane


def _queue(lane: RenderLane, party: str, served: list, release: threading.Event) -> threading.Thread:
    """A job of `party` that waits for the lane, notes its turn, and holds the lane until `release`."""
    def job():
        with lane.person(party):
            served.append(party)
            release.wait(10)
    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    return thread


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_party_asking_for_many_renders_waits_behind_its_own_not_in_front_of_others():
    lane, served, go = RenderLane(), [], threading.Event()
    held = threading.Event()

    def first():
        with lane.person("first"):
            held.wait(10)
    holder = threading.Thread(target=first, daemon=True)
    holder.start()
    _wait_for(lambda: lane._busy)
    jobs = []
    for _ in range(4):  # one client opens four sessions and asks in each
        jobs.append(_queue(lane, "203.0.113.7", served, go))
        _wait_for(lambda: lane.people_waiting() == len(jobs))
    jobs.append(_queue(lane, "198.51.100.2", served, go))  # then a visitor asks
    _wait_for(lambda: lane.people_waiting() == 5)
    go.set()
    held.set()
    for job in [holder, *jobs]:
        job.join(10)
    assert served == ["203.0.113.7", "198.51.100.2", "203.0.113.7", "203.0.113.7", "203.0.113.7"]


def test_background_work_takes_the_lane_only_when_nobody_holds_or_waits_for_it():
    lane, served, go = RenderLane(), [], threading.Event()
    assert lane.try_background()
    waiting = _queue(lane, "visitor", served, go)  # a person comes while a pre-render runs
    _wait_for(lambda: lane.people_waiting() == 1)
    assert served == []  # ... and waits for it to give way
    lane.release_background()
    _wait_for(lambda: served == ["visitor"])
    assert not lane.try_background()  # held by the person
    go.set()
    waiting.join(10)
    assert lane.try_background()
    lane.release_background()
