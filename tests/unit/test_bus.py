from __future__ import annotations

import threading
import time

import pytest

from pipeline.bus import InProcessBus
from pipeline.exceptions import BusFull


def test_per_topic_order_is_kept() -> None:
    bus = InProcessBus(["a", "b"], capacity=100)
    bus.produce_many("a", [(b"k", str(i).encode()) for i in range(10)])
    got = bus.consume(100, timeout=0)
    assert [m.value for m in got] == [str(i).encode() for i in range(10)]


def test_a_full_topic_pushes_back_then_gives_up() -> None:
    bus = InProcessBus(["a"], capacity=2)
    bus.produce_many("a", [(None, b"1"), (None, b"2")])
    with pytest.raises(BusFull):
        bus.produce("a", None, b"3", timeout=0.05)
    assert bus.depth() == {"a": 2}  # memory stays bounded


def test_a_blocked_producer_resumes_when_the_consumer_catches_up() -> None:
    bus = InProcessBus(["a"], capacity=2)
    bus.produce_many("a", [(None, b"1"), (None, b"2")])
    done = threading.Event()

    def producer() -> None:
        bus.produce_many("a", [(None, b"3"), (None, b"4")], timeout=5)
        done.set()

    threading.Thread(target=producer).start()
    time.sleep(0.05)
    assert not done.is_set()
    seen = []
    while len(seen) < 4:
        seen += [m.value for m in bus.consume(10, timeout=1)]
    assert seen == [b"1", b"2", b"3", b"4"]
    assert done.wait(1)


def test_one_busy_topic_does_not_starve_the_others() -> None:
    bus = InProcessBus(["busy", "quiet"], capacity=10_000)
    bus.produce_many("busy", [(None, b"x")] * 5000)
    bus.produce("quiet", None, b"q")
    batch = bus.consume(100, timeout=0)
    assert any(m.topic == "quiet" for m in batch)
