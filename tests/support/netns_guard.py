"""Is this process in a private network namespace (only loopback)?

Link multicasts on every interface once enabled: the test suite must never
do that on a real network.  scripts/test.sh runs pytest under
scripts/in-private-netns; running tests on the host network takes the
explicit opt-in AALINK_TESTS_ALLOW_HOST_NETWORK=1.
"""
import os
import socket

OPT_IN = "AALINK_TESTS_ALLOW_HOST_NETWORK"


def foreign_interfaces():
    """Names of network interfaces other than loopback."""
    return sorted(name for _, name in socket.if_nameindex() if name != "lo")


def isolation_problem():
    """None when Link may be enabled here, else why not."""
    if os.environ.get(OPT_IN) == "1":
        return None
    others = foreign_interfaces()
    if others:
        return (
            f"not inside a private network namespace (interfaces {', '.join(others)}): "
            f"Link would join the real network. Run the tests with scripts/test.sh, "
            f"or set {OPT_IN}=1 to allow the host network on purpose."
        )
    return None


if __name__ == "__main__":
    problem = isolation_problem()
    print(problem or "isolated")
    raise SystemExit(1 if problem else 0)
