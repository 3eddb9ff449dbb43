"""The opt-in real-time mode: Link(..., realtime=True) and Link.realtime.

Each affected thread's policy is read back with os.sched_getscheduler(tid)
over /proc/self/task: the scheduler thread ("aalink-sched"), the thread
running the Link's loop, and the relay's threads ("aalink-relay") for a
loop without add_reader.  The granted cases need CAP_SYS_NICE (root here)
or an RLIMIT_RTPRIO of at least the priority; the refused case drops both
in a subprocess (setpriv, prlimit).  Timing is the bench's business
(bench/, the "loaded" load), not these tests'.
"""
import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

from aalink import Link

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads Linux thread policies")

RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)
RT_POLICIES = {os.SCHED_FIFO, os.SCHED_RR} if hasattr(os, "SCHED_FIFO") else set()


def policy(tid):
    return os.sched_getscheduler(tid) & ~RESET_ON_FORK


def threads(name):
    """Native ids of this process's threads called `name`."""
    out = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    out.append(int(tid))
        except OSError:  # ended meanwhile
            pass
    return out


def is_rt(tid):
    return policy(tid) in RT_POLICIES


def can_raise():
    """Whether this process may use SCHED_FIFO (CAP_SYS_NICE or a limit)."""
    result = []

    def probe():
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            result.append(True)
        except PermissionError:
            result.append(False)

    t = threading.Thread(target=probe)  # a throw-away thread: nothing to put back
    t.start()
    t.join()
    return result[0]


needs_privilege = pytest.mark.skipif(not can_raise(),
                                     reason="no CAP_SYS_NICE nor RLIMIT_RTPRIO here")


def test_off_by_default(make_link):
    link = make_link(120)
    assert link.realtime is False
    assert not any(is_rt(t) for t in threads("aalink-sched"))


@needs_privilege
def test_on_raises_every_timing_thread_and_off_puts_them_back(make_link, run_on, loop_kind):
    async def main():
        link = make_link(240, realtime=True)
        assert link.realtime is True
        await link.sync(0.25)
        me = threading.get_native_id()
        sched = threads("aalink-sched")
        relays = threads("aalink-relay")
        assert sched and all(is_rt(t) for t in sched)
        assert is_rt(me)
        if loop_kind == "no_add_reader":
            assert len(relays) == 2 and all(is_rt(t) for t in relays)
        assert os.sched_getparam(sched[0]).sched_priority == 10
        link.realtime = False
        assert link.realtime is False
        assert not any(is_rt(t) for t in sched + relays + [me])
        await link.sync(0.25)  # syncs go on, at normal priority
        assert not is_rt(me)
        link.realtime = True  # and back on, from the loop's thread at once
        assert is_rt(me) and all(is_rt(t) for t in threads("aalink-relay"))
        link.close()
        assert not is_rt(me)

    run_on(main)


@needs_privilege
async def test_two_links_on_one_loop_share_the_loop_thread(make_link):
    me = threading.get_native_id()
    a = make_link(120, realtime=True)
    b = make_link(120, realtime=True)
    await asyncio.gather(a.sync(0.25), b.sync(0.25))
    assert is_rt(me)
    a.close()
    assert is_rt(me), "closing one Link lowered the loop thread the other wants raised"
    assert b.realtime
    b.realtime = False
    assert not is_rt(me)
    b.realtime = True
    a2 = make_link(120, realtime=True)
    await a2.sync(0.25)
    a2.realtime = False
    assert is_rt(me)
    b.close()
    assert not is_rt(me)


@needs_privilege
def test_the_mode_follows_the_loop_to_a_new_thread(make_link):
    link = make_link(240, realtime=True)
    seen = {}

    async def one_sync():
        await link.sync(0.25)

    first_done = threading.Event()
    release_first = threading.Event()

    def first():
        asyncio.run(one_sync())
        seen["first"] = threading.get_native_id()
        seen["first_rt"] = is_rt(seen["first"])
        first_done.set()
        release_first.wait(10)  # stay alive so that its policy can be read

    def second():
        asyncio.run(one_sync())
        seen["second"] = threading.get_native_id()
        seen["second_rt"] = is_rt(seen["second"])

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_done.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(10)
    try:
        assert seen["first_rt"] and seen["second_rt"]
        assert not is_rt(seen["first"]), "the old loop thread was not put back"
        assert link.realtime
    finally:
        release_first.set()
        t1.join(10)
    # And a new asyncio.run on this thread: raised here too.
    asyncio.run(one_sync())
    assert is_rt(threading.get_native_id())
    link.close()
    assert not is_rt(threading.get_native_id())


@needs_privilege
async def test_threads_started_from_a_raised_loop_run_at_normal_priority(make_link):
    link = make_link(120, realtime=True)
    await link.sync(0.25)
    assert is_rt(threading.get_native_id())
    tid = await asyncio.get_running_loop().run_in_executor(None, threading.get_native_id)
    assert not is_rt(tid)  # SCHED_RESET_ON_FORK: executor threads are not real-time


def run_script(prefix, body, env=None):
    script = textwrap.dedent("""
        import asyncio, json, os, threading, warnings
        from aalink import Link
        RT = {os.SCHED_FIFO, os.SCHED_RR}
        def rt(tid):
            return os.sched_getscheduler(tid) & ~0x40000000 in RT
        def sched_tids():
            out = []
            for t in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{t}/comm") as f:
                    if f.read().strip() == "aalink-sched":
                        out.append(int(t))
            return out
    """) + textwrap.dedent(body)
    return subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


UNPRIVILEGED = ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"]

GRANT_CHECK = """
    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            link = Link(240, realtime=True)
            got = [await link.sync(0.25) for _ in range(3)]
        print(json.dumps({
            "realtime": link.realtime, "syncs": len(got),
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
            "loop_rt": rt(threading.get_native_id()),
            "sched_rt": [rt(t) for t in sched_tids()],
            "priority": os.sched_getparam(sched_tids()[0]).sched_priority,
        }))
        link.close()
    asyncio.run(main())
"""


def need_tools(*names):
    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (util-linux)")


def test_refused_without_privilege_warns_once_and_keeps_working():
    import json
    need_tools("setpriv", "prlimit")
    r = run_script(["prlimit", "--rtprio=0", *UNPRIVILEGED], GRANT_CHECK)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["realtime"] is False
    assert out["syncs"] == 3
    assert len(out["warnings"]) == 1, out["warnings"]
    message = out["warnings"][0]
    assert message.startswith("RuntimeWarning: aalink: real-time scheduling was refused")
    assert "ulimit -r" in message and "audio" in message and "limits.conf" in message
    assert not out["loop_rt"] and not any(out["sched_rt"])


def test_granted_by_rlimit_rtprio_without_cap_sys_nice():
    import json
    need_tools("setpriv", "prlimit")
    probe = subprocess.run(["prlimit", "--rtprio=20", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("cannot raise RLIMIT_RTPRIO here (no CAP_SYS_RESOURCE): "
                    + probe.stderr.strip())
    r = run_script(["prlimit", "--rtprio=20", *UNPRIVILEGED], GRANT_CHECK)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["realtime"] is True and out["warnings"] == []
    assert out["loop_rt"] and all(out["sched_rt"])


@needs_privilege
def test_the_priority_comes_from_aalink_rt_priority():
    import json
    r = run_script([], GRANT_CHECK, env={"AALINK_RT_PRIORITY": "15"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["priority"] == 15


def test_a_bad_aalink_rt_priority_is_a_clear_error(make_link, monkeypatch):
    monkeypatch.setenv("AALINK_RT_PRIORITY", "100")
    link = make_link(120)
    with pytest.raises(ValueError, match="AALINK_RT_PRIORITY"):
        link.realtime = True
    assert link.realtime is False


def test_closed_link_refuses_and_reads_false(make_link):
    link = make_link(120, realtime=False)
    link.close()
    assert link.realtime is False
    with pytest.raises(RuntimeError, match="closed"):
        link.realtime = True
    with pytest.raises(AttributeError):
        del link.realtime


def test_realtime_is_keyword_only():
    with pytest.raises(TypeError):
        Link(120, None, True)  # type: ignore[misc]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not refused as root; skipped otherwise
        if can_raise():
            Link(120, realtime=True).close()
