"""Terminal helpers for ``python -m aalink``: key mode, screen control, keys.

POSIX only (termios).  KeyMode puts a terminal in a character-at-a-time mode
without echo and without signal keys (Ctrl-C arrives as a byte, so the
monitor can quit cleanly on it) and puts every setting back on exit, even
when the program fails.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

try:
    import termios
except ImportError:  # Windows: no key mode, the monitor runs in plain mode
    termios = None  # type: ignore[assignment]

HAVE_TERMIOS = termios is not None

# Escape sequences (ECMA-48 / xterm), written to the terminal.
ALT_SCREEN_ON = "\x1b[?1049h"
ALT_SCREEN_OFF = "\x1b[?1049l"
CURSOR_HIDE = "\x1b[?25l"
CURSOR_SHOW = "\x1b[?25h"
HOME = "\x1b[H"
CLEAR_LINE = "\x1b[K"      # to the end of the line
CLEAR_BELOW = "\x1b[J"     # to the end of the screen
BOLD = "\x1b[1m"
RESET = "\x1b[0m"

# Names of the keys the monitor knows that are not one printable character.
ARROWS = {"A": "up", "B": "down", "C": "right", "D": "left"}
CTRL_C = "ctrl-c"
CTRL_D = "ctrl-d"
ESCAPE = "escape"
ENTER = "enter"


class KeyMode:
    """Context manager: the terminal on ``fd`` without echo, line editing or
    signal keys while inside; the previous settings restored on exit.

    A no-op when ``fd`` is not a terminal.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> KeyMode:
        if termios is None or not os.isatty(self.fd):
            return self
        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        iflag, lflag, cc = 0, 3, 6
        mode[iflag] &= ~(termios.IXON | termios.ICRNL)
        mode[lflag] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
        mode[cc][termios.VMIN] = 1
        mode[cc][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSAFLUSH, mode)
        return self

    def restore(self) -> None:
        if self._saved is not None and termios is not None:
            saved, self._saved = self._saved, None
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except termios.error:  # the terminal went away
                pass

    def __exit__(self, *exc: object) -> None:
        self.restore()


def decode_keys(data: bytes) -> Iterator[str]:
    """Yield the keys in a chunk read from a terminal: printable characters as
    themselves, arrows as 'up'/'down'/'left'/'right', Ctrl-C as 'ctrl-c',
    Ctrl-D as 'ctrl-d', a lone Esc as 'escape', Enter as 'enter'."""
    text = data.decode("utf-8", "replace")
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            # CSI or SS3 sequence: ESC [ ... final or ESC O final.
            if i + 2 < len(text) and text[i + 1] in "[O":
                j = i + 2
                while j < len(text) and not ("@" <= text[j] <= "~"):
                    j += 1
                if j < len(text):
                    yield ARROWS.get(text[j], "unknown")
                    i = j + 1
                    continue
            yield ESCAPE
        elif ch == "\x03":
            yield CTRL_C
        elif ch == "\x04":
            yield CTRL_D
        elif ch in "\r\n":
            yield ENTER
        else:
            yield ch
        i += 1


def frame(lines: list[str]) -> str:
    """One screen update: home, every line cleared to its end, rest cleared."""
    return HOME + "".join(line + CLEAR_LINE + "\r\n" for line in lines) + CLEAR_BELOW
