"""Shutdown and lifetime, each in a subprocess with a time-out.

Ctrl-C during a sync loop, sys.exit from a callback, interpreter exit with
thousands of pending futures and Link enabled, a Link collected inside a
reference cycle with its own callbacks, many Links created and destroyed
(threads and descriptors counted), and fork with a live Link.
"""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from aalink import Link


def python(code):
    return [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)]


def run(code, timeout=30):
    t0 = time.monotonic()
    r = subprocess.run(python(code), capture_output=True, text=True, timeout=timeout)
    r.elapsed = time.monotonic() - t0
    return r


def assert_clean(r):
    for bad in ("Fatal Python error", "Segmentation fault", "Traceback", "Exception ignored",
                "AddressSanitizer", "runtime error:"):
        assert bad not in r.stderr, r.stderr


def test_ctrl_c_during_a_sync_loop_exits_promptly():
    p = subprocess.Popen(python("""
        import asyncio
        from aalink import Link
        async def main():
            link = Link(600)
            link.enabled = True
            futures = [link.sync(1000 + i) for i in range(1000)]  # pending too
            n = 0
            while True:
                await link.sync(0.25)
                n += 1
                if n == 4:
                    print("syncing", flush=True)
        asyncio.run(main())
    """), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "syncing"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "Fatal Python error" not in err and "Segmentation" not in err, err
    assert elapsed < 5


class InterruptingLoop(asyncio.SelectorEventLoop):
    """A loop whose next call_soon(), once armed, raises KeyboardInterrupt:
    where Ctrl-C lands when it arrives while the Link resolves a future
    (set_result() schedules the future's callbacks with call_soon).
    Before Python 3.11, asyncio.run() lets Ctrl-C raise KeyboardInterrupt in
    whatever Python code the main thread runs next."""

    armed = False

    def call_soon(self, callback, *args, context=None):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return super().call_soon(callback, *args, context=context)


def test_ctrl_c_while_a_future_is_resolved_reaches_the_loop():
    loop = InterruptingLoop()
    link = Link(120, loop)
    later = []

    async def main():
        fut = link.sync(0.25)
        fut.add_done_callback(later.append)  # set_result() schedules it: call_soon
        loop.armed = True
        await asyncio.sleep(5)

    task = loop.create_task(main())
    try:
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(task)
        assert time.monotonic() - t0 < 2  # at the beat, not after the sleep
        # The Link goes on: the program may catch Ctrl-C and carry on (the REPL).
        task.cancel()
        assert loop.run_until_complete(link.sync(0.25)) % 0.25 == 0
    finally:
        link.close()
        loop.close()


@pytest.mark.parametrize("kind", ["tempo", "num_peers"])
def test_sys_exit_from_a_callback(kind):
    trigger = {
        "tempo": "link.tempo = 150",
        # A second Link joining makes the first one's peer count change.
        "num_peers": "other = Link(120); other.enabled = True",
    }[kind]
    r = run(f"""
        import asyncio, sys
        from aalink import Link
        async def main():
            global link, other
            link = Link(120)
            link.enabled = True
            def cb(value):
                print("callback", value, flush=True)
                sys.exit(3)
            link.add_{kind}_callback(cb)
            {trigger}
            while True:  # keep syncing until the callback exits
                await link.sync(0.25)
        asyncio.run(main())
    """)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert r.stdout.startswith("callback")
    assert "Fatal Python error" not in r.stderr and "Segmentation" not in r.stderr, r.stderr
    assert r.elapsed < 20


def test_exit_with_thousands_of_pending_futures_and_link_enabled():
    r = run("""
        import asyncio
        from aalink import Link
        async def main():
            global link, futures, waiters
            link = Link(120)
            link.enabled = True
            link.add_tempo_callback(print)
            futures = [link.sync(1 + i % 50, offset=0.1) for i in range(20_000)]
            async def waiter(i):
                await link.sync(10_000 + i)
            waiters = [asyncio.ensure_future(waiter(i)) for i in range(1_000)]
            await asyncio.sleep(0.2)
            print("leaving", flush=True)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())  # the loop is left open, the Link too
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "leaving"
    assert_clean(r)
    assert r.elapsed < 10


def test_exit_with_a_closed_loop_and_pending_futures():
    r = run("""
        import asyncio
        from aalink import Link
        link = Link(120)
        async def main():
            global futures
            link.enabled = True
            futures = [link.sync(100 + i) for i in range(5_000)]
            await asyncio.sleep(0.05)
        asyncio.run(main())  # closes the loop with the futures pending
        print("done", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"
    assert_clean(r)


def test_link_in_a_reference_cycle_with_its_callbacks_is_collected():
    r = run("""
        import asyncio, gc, os, weakref
        from aalink import Link
        def counts():
            return len(os.listdir('/proc/self/task')), len(os.listdir('/proc/self/fd'))
        class Player:
            def __init__(self):
                self.link = Link(120)
                self.link.enabled = True
                self.link.add_tempo_callback(self.on_tempo)   # link -> self -> link
                self.link.add_num_peers_callback(lambda n: self.on_tempo(n))
                self.link.set_start_stop_callback(self.on_tempo)
            def on_tempo(self, value):
                pass
        async def main():
            before = counts()
            p = Player()
            await p.link.sync(0.01)   # bound to this loop, waker registered
            p.link.tempo = 130
            await asyncio.sleep(0.05)
            ref = weakref.ref(p.link)
            del p
            gc.collect()
            assert ref() is None, "Link not collected"
            await asyncio.sleep(0.1)
            after = counts()
            assert after == before, (before, after)
            print("collected", flush=True)
        asyncio.run(main())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "collected"
    assert_clean(r)


def test_many_links_created_and_destroyed_leak_no_threads_or_descriptors():
    r = run("""
        import asyncio, gc, os
        from aalink import Link
        def counts():
            return len(os.listdir('/proc/self/task')), len(os.listdir('/proc/self/fd'))
        async def main():
            gc.disable()  # no help from the cyclic GC: freed by refcount alone
            before = counts()
            for i in range(150):
                link = Link(120 + i)
                if i % 3 == 0:
                    link.enabled = True
                if i % 2 == 0:
                    await link.sync(1 / 64)
                if i % 5 == 0:
                    link.close()
                del link
            await asyncio.sleep(0.1)
            middle = counts()
            with Link(120) as link:
                link.enabled = True
                await link.sync(1 / 64)
            # A joined thread can stay listed in /proc for a moment (the
            # kernel wakes the joiner before it reaps the thread).
            for _ in range(200):
                after = counts()
                if after == before:
                    break
                await asyncio.sleep(0.01)
            print(before, middle, after, flush=True)
            assert middle == before == after, (before, middle, after)
        asyncio.run(main())
    """, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    assert_clean(r)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_with_a_live_link():
    r = run("""
        import asyncio, os, sys, warnings
        from aalink import Link
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        async def main():
            link = Link(120)
            link.enabled = True
            pending = [link.sync(1000 + i) for i in range(100)]
            await link.sync(0.05)
            pid = os.fork()
            if pid == 0:
                # The child: the Link is unusable, clearly, and nothing hangs.
                code = 0
                for use in (lambda: link.beat, lambda: link.sync(1),
                            lambda: setattr(link, 'tempo', 100), lambda: link.force_beat(0)):
                    try:
                        use()
                        code = 10
                    except RuntimeError as e:
                        if 'fork' not in str(e):
                            code = 11
                fresh = Link(100)   # a new Link works in the child
                assert fresh.tempo == 100
                fresh.close()
                link.close()
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            # The parent's Link is unharmed.
            assert await asyncio.wait_for(link.sync(0.25), 5) > 0
            print("child", os.waitstatus_to_exitcode(status), flush=True)
        asyncio.run(main())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "child 0", (r.stdout, r.stderr)
    assert r.elapsed < 15


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_exits_normally_with_the_link_alive():
    """The child runs its interpreter exit (atexit hook, finalization) with
    the parent's Link still referenced: no hang, exit code 0."""
    r = run("""
        import asyncio, os, warnings
        from aalink import Link
        warnings.simplefilter("ignore", DeprecationWarning)
        link = Link(120)
        link.enabled = True
        async def main():
            global futures
            futures = [link.sync(1000 + i) for i in range(100)]
            await link.sync(0.05)
        asyncio.run(main())
        pid = os.fork()
        if pid == 0:
            raise SystemExit(0)   # normal exit in the child
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "child 0", (r.stdout, r.stderr)
    assert r.elapsed < 15
