"""Lateness statistics: Link.stats and reset_stats()."""
import asyncio
import time


async def test_stats_count_and_reset(make_link):
    link = make_link(480)
    assert link.stats["count"] == 0
    for _ in range(10):
        await link.sync(0.25)
    s = link.stats
    assert s["count"] == 10
    assert 0 <= s["p50_ms"] <= s["p99_ms"] <= s["max_ms"] < 100
    assert s["mean_ms"] <= s["max_ms"]
    link.reset_stats()
    assert link.stats["count"] == 0


async def test_stats_see_a_busy_loop(make_link):
    link = make_link(480)
    fut = link.sync(0.25)
    time.sleep(0.15)  # noqa: ASYNC251  the loop cannot resolve it on time
    await fut
    assert link.stats["max_ms"] > 50


async def test_cancelled_futures_are_not_counted(make_link):
    link = make_link(600)
    futures = [link.sync(0.25) for _ in range(5)]
    futures[0].cancel()
    await asyncio.gather(*futures[1:])
    assert link.stats["count"] == 4
