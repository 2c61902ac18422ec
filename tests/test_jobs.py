"""The app's side of render jobs against a real Redis: refusals are clean messages."""

import pytest

from avatar.config import Deployment
from avatar.errors import UserError
from avatar.jobs import RenderQueue
from tests import servers


def test_a_full_queue_is_refused_as_busy_before_anything_is_queued(redis_server, tmp_path):
    queue = RenderQueue(Deployment(root=tmp_path, broker=redis_server.url, max_waiting=0))
    with pytest.raises(UserError, match="busy"):
        queue.render("Hello", None, None, True, lambda share, stage: None)
    assert queue.waiting() == 0


def test_an_unreachable_broker_is_a_clear_message(tmp_path):
    queue = RenderQueue(Deployment(root=tmp_path, broker=f"redis://127.0.0.1:{servers.free_port()}/0"))
    with pytest.raises(UserError, match="cannot be reached"):
        queue.render("Hello", None, None, True, lambda share, stage: None)
