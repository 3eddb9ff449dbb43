"""The num_peers, tempo and start_stop callbacks, and two Links in one
process seeing each other.

Rules (API page): each callback is delivered on the Link's event loop with one
argument (int peers, float bpm, bool playing); set_* replaces every
registered callback, add_* appends, remove_* removes one if present and is
silent otherwise.  Link calls back for local changes too (tempo, playing),
which most tests here use; peers need a second Link, which the private network
namespace of the test runner lets us find over loopback.
"""
import asyncio
import threading

import pytest

from support import wait_until

KINDS = ["num_peers", "tempo", "start_stop"]


class Recorder:
    """A callback that records (value, thread id) of each call."""

    def __init__(self, name="cb"):
        self.name = name
        self.calls = []

    def __call__(self, value):
        self.calls.append((value, threading.get_ident()))

    @property
    def values(self):
        return [v for v, _ in self.calls]

    def method(self, value):  # a bound method, to test removal by equality
        self(value)


async def settle(seconds=0.1):
    """Give Link's thread and the loop time to deliver whatever is due."""
    await asyncio.sleep(seconds)


async def peer_pair(make_link, bpm_a=120, bpm_b=120):
    a = make_link(bpm_a)
    b = make_link(bpm_b)
    a.enabled = True
    b.enabled = True
    assert await wait_until(lambda: a.num_peers == 1 and b.num_peers == 1, timeout=10)
    return a, b


# ------------------------------------------------------------ tempo (local)

async def test_tempo_callback_gets_a_float_on_the_loop_thread(make_link):
    link = make_link(120)
    rec = Recorder()
    link.add_tempo_callback(rec)
    link.tempo = 150
    assert await wait_until(lambda: rec.calls)
    value, tid = rec.calls[-1]
    assert value == pytest.approx(150) and type(value) is float
    assert tid == threading.get_ident()


async def test_start_stop_callback_gets_a_bool_on_the_loop_thread(make_link):
    link = make_link(120)
    rec = Recorder()
    link.add_start_stop_callback(rec)
    link.playing = True
    assert await wait_until(lambda: rec.values == [True])
    link.playing = False
    assert await wait_until(lambda: rec.values == [True, False])
    assert all(type(v) is bool for v in rec.values)
    assert {tid for _, tid in rec.calls} == {threading.get_ident()}


async def test_num_peers_callback_gets_an_int_on_the_loop_thread(make_link):
    a = make_link(120)
    rec = Recorder()
    a.add_num_peers_callback(rec)
    b = make_link(120)
    a.enabled = True
    b.enabled = True
    assert await wait_until(lambda: 1 in rec.values, timeout=10)
    assert all(type(v) is int for v in rec.values)
    assert {tid for _, tid in rec.calls} == {threading.get_ident()}
    b.enabled = False  # b leaves the session
    assert await wait_until(lambda: rec.values[-1] == 0, timeout=10)


async def test_set_is_playing_and_request_beat_at_time_calls_back(make_link):
    link = make_link(120)
    rec = Recorder()
    link.set_start_stop_callback(rec)
    link.set_is_playing_and_request_beat_at_time(True, link.time, 0)
    assert await wait_until(lambda: rec.values == [True])


# ------------------------------------------- several callbacks, set/add/remove

async def test_several_callbacks_all_get_each_event_in_order(make_link):
    link = make_link(120)
    order = []
    recs = [Recorder(str(i)) for i in range(3)]
    for rec in recs:
        link.add_tempo_callback(rec)
        link.add_tempo_callback(lambda v, n=rec.name: order.append(n))
    link.tempo = 140
    assert await wait_until(lambda: all(r.calls for r in recs))
    await settle()
    assert all(r.values == [pytest.approx(140)] for r in recs)
    assert order == ["0", "1", "2"]


async def test_remove_one_leaves_the_others(make_link):
    link = make_link(120)
    keep1, gone, keep2 = Recorder(), Recorder(), Recorder()
    for rec in (keep1, gone, keep2):
        link.add_start_stop_callback(rec)
    link.remove_start_stop_callback(gone)
    link.playing = True
    assert await wait_until(lambda: keep1.calls and keep2.calls)
    await settle()
    assert keep1.values == [True] and keep2.values == [True]
    assert gone.calls == []


@pytest.mark.parametrize("kind", KINDS)
async def test_removing_an_absent_callback_is_silent(make_link, kind):
    link = make_link(120)
    rec = Recorder()
    getattr(link, f"remove_{kind}_callback")(rec)  # never added
    getattr(link, f"add_{kind}_callback")(rec)
    getattr(link, f"remove_{kind}_callback")(rec)
    getattr(link, f"remove_{kind}_callback")(rec)  # already removed
    getattr(link, f"remove_{kind}_callback")(None)


async def test_set_replaces_every_callback(make_link):
    link = make_link(120)
    old1, old2, new = Recorder(), Recorder(), Recorder()
    link.add_tempo_callback(old1)
    link.add_tempo_callback(old2)
    link.set_tempo_callback(new)
    link.tempo = 90
    assert await wait_until(lambda: new.calls)
    await settle()
    assert new.values == [pytest.approx(90)]
    assert old1.calls == [] and old2.calls == []
    # set_ again replaces the replacement; add_ after set_ appends
    newer, extra = Recorder(), Recorder()
    link.set_tempo_callback(newer)
    link.add_tempo_callback(extra)
    link.tempo = 100
    assert await wait_until(lambda: newer.calls and extra.calls)
    await settle()
    assert len(new.calls) == 1
    assert newer.values == extra.values == [pytest.approx(100)]


async def test_set_none_clears_the_callbacks(make_link):
    link = make_link(120)
    rec = Recorder()
    link.add_tempo_callback(rec)
    link.set_tempo_callback(None)
    link.tempo = 110
    await settle(0.2)
    assert rec.calls == []


async def test_adding_twice_calls_twice_and_remove_takes_one(make_link):
    link = make_link(120)
    rec = Recorder()
    link.add_tempo_callback(rec)
    link.add_tempo_callback(rec)
    link.tempo = 130
    assert await wait_until(lambda: len(rec.calls) == 2)
    link.remove_tempo_callback(rec)
    link.tempo = 131
    assert await wait_until(lambda: len(rec.calls) == 3)
    await settle()
    assert rec.values == [pytest.approx(130), pytest.approx(130), pytest.approx(131)]


async def test_bound_methods_can_be_removed(make_link):
    """remove_* compares by equality: a fresh bound method of the same object works."""
    link = make_link(120)
    rec = Recorder()
    link.add_start_stop_callback(rec.method)
    link.remove_start_stop_callback(rec.method)
    link.playing = True
    await settle(0.2)
    assert rec.calls == []


async def test_kinds_are_independent(make_link):
    link = make_link(120)
    tempo, start_stop, peers = Recorder(), Recorder(), Recorder()
    link.add_tempo_callback(tempo)
    link.add_start_stop_callback(start_stop)
    link.add_num_peers_callback(peers)
    link.tempo = 125
    assert await wait_until(lambda: tempo.calls)
    await settle()
    assert start_stop.calls == [] and peers.calls == []
    link.playing = True
    assert await wait_until(lambda: start_stop.calls)
    await settle()
    assert len(tempo.calls) == 1 and peers.calls == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", ["set", "add"])
@pytest.mark.parametrize("bad", [1, "cb", object()])
async def test_non_callables_are_a_type_error(make_link, kind, op, bad):
    link = make_link(120)
    with pytest.raises(TypeError):
        getattr(link, f"{op}_{kind}_callback")(bad)


async def test_a_callback_that_removes_itself(make_link):
    link = make_link(120)
    other = Recorder()
    calls = []

    def once(value):
        calls.append(value)
        link.remove_tempo_callback(once)

    link.add_tempo_callback(once)
    link.add_tempo_callback(other)
    link.tempo = 130
    assert await wait_until(lambda: other.calls)
    link.tempo = 140
    assert await wait_until(lambda: len(other.calls) == 2)
    assert calls == [pytest.approx(130)]  # the other one still got this event


async def test_an_exception_in_a_callback_goes_to_the_loop_and_the_rest_run(make_link):
    loop = asyncio.get_running_loop()
    reported = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    try:
        link = make_link(120)
        after = Recorder()

        def broken(value):
            raise ZeroDivisionError("boom")

        link.add_tempo_callback(broken)
        link.add_tempo_callback(after)
        link.tempo = 133
        assert await wait_until(lambda: after.calls and reported)
        assert isinstance(reported[0].get("exception"), ZeroDivisionError)
        # the Link and the loop carry on
        assert await asyncio.wait_for(link.sync(0.1), 5) > 0
    finally:
        loop.set_exception_handler(None)


async def test_callbacks_and_sync_together(make_link):
    """A tempo callback can itself schedule syncs."""
    link = make_link(240)
    results = []

    def on_tempo(bpm):
        fut = link.sync(0.25)
        fut.add_done_callback(lambda f: results.append((bpm, f.result())))

    link.set_tempo_callback(on_tempo)
    link.tempo = 480
    assert await wait_until(lambda: results, timeout=5)
    assert results[0][0] == pytest.approx(480)


# ------------------------------------------- the Link's loop in another thread

def test_callbacks_go_to_the_links_loop_running_in_another_thread():
    """Link(bpm, loop) made on one thread for a loop another thread runs."""
    from aalink import Link

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop-thread")
    thread.start()
    try:
        link = Link(120, loop)
        rec = Recorder()
        link.add_tempo_callback(rec)
        link.tempo = 150
        deadline = loop.time() + 5
        while not rec.calls and loop.time() < deadline:
            threading.Event().wait(0.02)
        assert rec.values == [pytest.approx(150)]
        assert rec.calls[0][1] == thread.ident

        async def on_loop():
            return await link.sync(0.25)

        assert asyncio.run_coroutine_threadsafe(on_loop(), loop).result(5) > 0
        link.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_link_made_outside_a_loop_calls_back_once_it_has_one():
    from aalink import Link

    link = Link(120)
    try:
        async def main():
            rec = Recorder()
            link.add_tempo_callback(rec)
            link.tempo = 150
            assert await wait_until(lambda: rec.calls)
            return rec.calls

        calls = asyncio.run(main())
        assert calls[0][0] == pytest.approx(150)
    finally:
        link.close()


def test_events_before_the_link_has_a_loop_are_delivered_once_it_has_one():
    """Link(bpm) outside any loop, a callback added there: a change made before
    the first sync() binds a loop still reaches the callback on that loop."""
    from aalink import Link

    link = Link(120)
    try:
        rec = Recorder()
        link.add_tempo_callback(rec)
        link.tempo = 150
        threading.Event().wait(0.2)  # Link has recorded the change by now

        async def main():
            await link.sync(0.01)  # binds this loop
            assert await wait_until(lambda: rec.calls, timeout=2)
            return threading.get_ident()

        tid = asyncio.run(main())
        assert rec.values == [pytest.approx(150)]
        assert rec.calls[0][1] == tid
    finally:
        link.close()


# --------------------------------------------------- two Links in one process

async def test_two_links_see_each_others_tempo(make_link):
    a, b = await peer_pair(make_link)
    seen_by_b = Recorder()
    b.add_tempo_callback(seen_by_b)
    a.tempo = 133
    assert await wait_until(lambda: any(v == pytest.approx(133, abs=0.01)
                                        for v in seen_by_b.values), timeout=5)
    assert b.tempo == pytest.approx(133, abs=0.01)
    seen_by_a = Recorder()
    a.add_tempo_callback(seen_by_a)
    b.tempo = 87
    assert await wait_until(lambda: any(v == pytest.approx(87, abs=0.01)
                                        for v in seen_by_a.values), timeout=5)
    assert a.tempo == pytest.approx(87, abs=0.01)
    assert {tid for _, tid in seen_by_a.calls + seen_by_b.calls} == {threading.get_ident()}


async def test_two_links_see_each_other_as_peers(make_link):
    a = make_link(120)
    b = make_link(120)
    peers_a, peers_b = Recorder(), Recorder()
    a.set_num_peers_callback(peers_a)
    b.set_num_peers_callback(peers_b)
    a.enabled = True
    b.enabled = True
    assert await wait_until(lambda: peers_a.values[-1:] == [1] and peers_b.values[-1:] == [1],
                            timeout=10)
    assert a.num_peers == 1 and b.num_peers == 1
    c = make_link(120)
    c.enabled = True
    assert await wait_until(lambda: peers_a.values[-1:] == [2] and c.num_peers == 2, timeout=10)
    c.close()
    assert await wait_until(lambda: peers_a.values[-1:] == [1], timeout=10)


async def test_two_links_share_start_stop_when_both_enable_it(make_link):
    a, b = await peer_pair(make_link)
    a.start_stop_sync_enabled = True
    b.start_stop_sync_enabled = True
    seen_by_b = Recorder()
    b.add_start_stop_callback(seen_by_b)
    a.playing = True
    assert await wait_until(lambda: True in seen_by_b.values, timeout=5)
    assert b.playing is True
    seen_by_a = Recorder()
    a.add_start_stop_callback(seen_by_a)
    b.playing = False
    assert await wait_until(lambda: False in seen_by_a.values, timeout=5)
    assert a.playing is False
    assert all(type(v) is bool for v in seen_by_a.values + seen_by_b.values)


async def test_start_stop_stays_local_without_start_stop_sync(make_link):
    a, b = await peer_pair(make_link)
    a.start_stop_sync_enabled = True  # only a shares
    seen_by_b = Recorder()
    b.add_start_stop_callback(seen_by_b)
    a.playing = True
    await settle(0.3)
    assert b.playing is False
    assert seen_by_b.calls == []


async def test_peers_share_a_beat_grid(make_link):
    """Joined peers agree on the phase: their syncs land together."""
    a, b = await peer_pair(make_link, 480, 480)
    b.quantum = a.quantum = 4
    assert await wait_until(lambda: abs(a.phase - b.phase) < 0.05
                            or abs(abs(a.phase - b.phase) - 4) < 0.05, timeout=5)
    await asyncio.wait_for(a.sync(1, offset=0.5), 5)  # half a beat from the next beat
    va, vb = await asyncio.wait_for(asyncio.gather(a.sync(1), b.sync(1)), 5)
    assert va % 4 == pytest.approx(vb % 4)
