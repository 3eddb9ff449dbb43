#!/usr/bin/env bash
# Build aalink for Linux aarch64 and run a test subset under qemu user
# emulation.  Not part of scripts/test.sh (it takes minutes); its last result
# is recorded in docs/platforms.md.
#
#   scripts/test-arm64.sh                  the default subset (below)
#   scripts/test-arm64.sh tests/test_sync.py -k grid   pytest arguments instead
#
# How: an arm64 Debian bookworm root in build/arm64-root (debootstrap
# --foreign, then its second stage run inside it), with python3, python3-dev,
# g++, ableton-link-dev, libasio-dev and pytest from Debian.  Every step that
# runs arm64 code runs in new user + mount namespaces that have their own
# binfmt_misc instance (Linux 6.7 and later), where qemu-aarch64-static is
# registered: the host's binfmt_misc is never touched.  The extension is
# built inside the root by its own (emulated) g++ with setup.py, as on a
# Raspberry Pi, and the tests run in a private network namespace (only
# loopback), as scripts/in-private-netns does.
#
# Last result (docs/platforms.md): 296 passed, 10 failed; every failure needs
# two Links to discover each other, which qemu 7.2's user mode prevents (no
# setsockopt IP_MULTICAST_IF: ENOPROTOOPT).
#
# Needs root (debootstrap; the host's root writes the user namespace's uid map)
# and, the first time, the network (Debian's mirror; about 5 minutes to make
# the root).  Env: AALINK_ARM64_ROOT (default build/arm64-root),
# AALINK_ARM64_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ROOTFS=${AALINK_ARM64_ROOT:-$REPO/build/arm64-root}
MIRROR=${AALINK_ARM64_MIRROR:-http://deb.debian.org/debian}
QEMU=/usr/bin/qemu-aarch64-static
PACKAGES=python3,python3-dev,python3-setuptools,python3-venv,python3-pytest,python3-pytest-asyncio,python3-pytest-timeout,python3-hypothesis,g++,ableton-link-dev,libasio-dev,iproute2
# The native and Python core of the suite, without the tests that time
# delivery to the millisecond under load, the tooling tests (lint, docs,
# wheel, typing) and those that need other programs (LinkHut, JACK, MinGW).
SUBSET=(tests/test_sync.py tests/test_every.py tests/test_beat_time.py tests/test_properties.py
        tests/test_callbacks.py tests/test_scheduler.py tests/test_threads.py
        tests/test_shutdown.py tests/test_tempo_ramp.py tests/test_lead.py tests/test_stats.py
        tests/test_follow.py tests/test_network_guard.py tests/test_loop_without_add_reader.py
        tests/test_dealloc_keeps_exception.py)

say() { printf 'test-arm64: %s\n' "$*" >&2; }

# ---- inside the namespaces (this script again, with --inner STEP) ----
if [ "${1:-}" = "--inner" ]; then
    step=$2
    shift 2
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    # Debian's magic for qemu-aarch64; F: the interpreter is opened
    # now, so it works inside the chroot (no P: qemu-aarch64-static itself
    # takes no argv[0] argument).
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$QEMU"':F' \
        > /proc/sys/fs/binfmt_misc/register
    mount -t proc proc "$ROOTFS/proc"
    mount --rbind /dev "$ROOTFS/dev"
    mount -t tmpfs tmpfs "$ROOTFS/tmp"
    if [ "$step" = second-stage ]; then
        # container=lxc: no mknod in a user namespace, so debootstrap must
        # neither test for it nor make /dev (the host's is bound there).
        exec chroot "$ROOTFS" /usr/bin/env container=lxc /debootstrap/debootstrap --second-stage
    fi
    mkdir -p "$ROOTFS/aalink"
    mount --bind "$REPO/build/arm64-src" "$ROOTFS/aalink"
    if [ "$step" = test ]; then
        ip link set lo up
        mount -t sysfs sysfs "$ROOTFS/sys"
    fi
    exec chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 \
        AALINK_PRIVATE_NETNS=$([ "$step" = test ] && echo 1 || echo 0) PYTHONPATH=/aalink/src \
        /bin/sh -c 'cd /aalink && exec "$@"' sh "$@"
fi

# ---- on the host ----
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, uid maps)"; exit 2; }
if [ ! -d /proc/sys/fs/binfmt_misc ]; then
    say "no /proc/sys/fs/binfmt_misc in this kernel"; exit 2
fi
missing=()
for p in qemu-user-static debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

in_ns() {  # in_ns [--net] STEP command...: new user+mount+pid(+net) namespaces
    local net=() pid i
    if [ "$1" = --net ]; then net=(--net); shift; fi
    # The new user namespace maps the host's uids and gids 0-65535 to
    # themselves (dpkg chowns to system users), written here by the host's
    # root (unshare --map-users would need newuidmap and /etc/subuid).
    unshare --user --mount --pid --fork "${net[@]}" --propagation private -- \
        bash -c 'until grep -q . /proc/self/uid_map; do sleep 0.05; done; exec bash "$0" --inner "$@"' \
        "$REPO/scripts/test-arm64.sh" "$@" &
    pid=$!
    for i in $(seq 200); do
        [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ] && break
        sleep 0.05
    done
    echo "0 0 65536" > "/proc/$pid/uid_map"
    echo "0 0 65536" > "/proc/$pid/gid_map"
    wait "$pid"
}

started=$(date +%s)
if [ ! -f "$ROOTFS/.aalink-ready" ]; then
    if [ ! -x "$ROOTFS/debootstrap/debootstrap" ]; then
        say "making an arm64 Debian root in $ROOTFS (debootstrap --foreign)"
        mkdir -p "$(dirname "$ROOTFS")"
        debootstrap --arch=arm64 --foreign --variant=minbase --include="$PACKAGES" \
            bookworm "$ROOTFS" "$MIRROR"
    fi
    say "second stage of debootstrap, under qemu"
    in_ns second-stage
    touch "$ROOTFS/.aalink-ready"
    say "root ready in $(( $(date +%s) - started )) s"
fi

# Packages added to the list since the root was made.
want=()
for p in ${PACKAGES//,/ }; do
    dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f='${Status}\n' "$p" 2>/dev/null |
        grep -q "ok installed" || want+=("$p")
done
if [ "${#want[@]}" -gt 0 ]; then
    say "installing ${want[*]} into the root"
    in_ns apt /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"' sh "${want[@]}"
fi

# Debian bookworm's setuptools (66) cannot read this pyproject.toml (a PEP
# 639 licence string needs setuptools>=77): a venv in the root on top of
# Debian's packages, with setuptools and packaging from PyPI (pure Python,
# fetched here).
VENV=/opt/aalink-venv
if [ ! -x "$ROOTFS$VENV/bin/python" ]; then
    say "making $VENV in the root, with setuptools>=77"
    rm -rf "$ROOTFS/opt/aalink-wheels"
    python3 -m pip download -q --no-deps --only-binary :all: -d "$ROOTFS/opt/aalink-wheels" \
        "setuptools>=77" "packaging>=24.2"
    in_ns venv /bin/sh -c "python3 -m venv --system-site-packages $VENV && $VENV/bin/pip install -q --no-index --find-links /opt/aalink-wheels 'setuptools>=77' 'packaging>=24.2'"
fi

# The tracked sources (as they are in the working tree), copied fresh.
rm -rf build/arm64-src
mkdir -p build/arm64-src
git ls-files -z | tar --null -T - -cf - | tar -xf - -C build/arm64-src

t0=$(date +%s)
say "building the extension with the root's g++ (emulated)"
in_ns build $VENV/bin/python setup.py -q build_ext --inplace
t1=$(date +%s)
say "built in $(( t1 - t0 )) s; running the tests in a private network namespace"
[ $# -gt 0 ] || set -- -q "${SUBSET[@]}"
rc=0
in_ns --net test $VENV/bin/python -X faulthandler -m pytest -p no:cacheprovider --timeout=600 "$@" || rc=$?
t2=$(date +%s)
say "$(uname -m) host, aarch64 under $($QEMU --version | head -1): build $(( t1 - t0 )) s, tests $(( t2 - t1 )) s, exit $rc"
exit "$rc"
