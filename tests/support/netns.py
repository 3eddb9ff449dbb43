"""Two named network namespaces joined by a veth pair: two "hosts".

    with Hosts() as hosts:
        Peer(prefix=hosts.prefix(0))  # a process on host 0 (10.201.0.1)
        hosts.cut(); hosts.restore()  # the cable between them

The namespaces get unique names (/run/netns/aal-PID-RANDOM-N) and are
deleted on exit, whatever happened; the veth pair goes with them.  Only the
two namespaces are connected: nothing reaches the machine's real network.
Needs root (the test runner's private namespace is root's).
"""
import os
import subprocess
import uuid

import pytest

ADDRESSES = ("10.201.0.1", "10.201.0.2")
LINK_MULTICAST = "224.0.0.0/4"  # Link discovers peers on 224.76.78.75:20808


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def unavailable():
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if subprocess.run(["sh", "-c", "command -v ip"], capture_output=True).returncode != 0:
        return "no ip command (iproute2)"
    return None


class Hosts:
    def __init__(self):
        tag = f"aal-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.names = (f"{tag}-0", f"{tag}-1")
        self.devs = ("veth0", "veth1")

    def prefix(self, i):
        """Command prefix that runs a command on host i."""
        return ("ip", "netns", "exec", self.names[i])

    def create(self):
        try:
            a, b = self.names
            ip("netns", "add", a)
            ip("netns", "add", b)
            ip("-n", a, "link", "add", self.devs[0], "type", "veth",
               "peer", "name", self.devs[1], "netns", b)
            for i, ns in enumerate(self.names):
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "addr", "add", f"{ADDRESSES[i]}/24", "dev", self.devs[i])
                ip("-n", ns, "link", "set", self.devs[i], "up")
                ip("-n", ns, "route", "add", LINK_MULTICAST, "dev", self.devs[i])
        except Exception:
            self.delete()
            raise
        return self

    def cut(self):
        """Take the cable out (host 0's end down)."""
        ip("-n", self.names[0], "link", "set", self.devs[0], "down")

    def restore(self):
        ip("-n", self.names[0], "link", "set", self.devs[0], "up")
        # Bringing a device up drops the routes through it.
        ip("-n", self.names[0], "route", "replace", LINK_MULTICAST, "dev", self.devs[0])

    def delete(self):
        for ns in self.names:
            ip("netns", "del", ns, check=False)

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.delete()


@pytest.fixture(scope="module")
def hosts():
    """Two hosts for a module's tests (tests/conftest.py offers it); the
    tests skip, saying why, where namespaces cannot be made."""
    problem = unavailable()
    if problem:
        pytest.skip(f"two-host tests skipped: {problem}")
    with Hosts() as h:
        yield h
