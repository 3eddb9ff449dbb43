"""Issue 7, item 3: docstrings for the module, the type, every method and
property, visible in help() and in the REPL, with their units.
"""
import inspect
import pydoc

import pytest

import aalink
from aalink import Link

PUBLIC_DUNDERS = ("__enter__", "__exit__")


def public_members():
    return [name for name in dir(Link)
            if not name.startswith("_") or name in PUBLIC_DUNDERS]


def test_module_and_type_have_docstrings():
    assert aalink.__doc__ and "await link.sync(1)" in aalink.__doc__
    assert "beats" in aalink.__doc__
    for name in aalink.__all__:
        assert inspect.getdoc(getattr(aalink, name)), name
    assert "bpm" in Link.__doc__


@pytest.mark.parametrize("name", public_members())
def test_every_public_method_and_property_has_a_docstring(name):
    doc = inspect.getdoc(getattr(Link, name))
    assert doc and doc.strip(), f"Link.{name} has no docstring"
    assert len(doc) > 10


# Units that the docstring of each name must state.
UNITS = {
    "tempo": ["bpm"],
    "beat": ["beats"],
    "phase": ["beats", "quantum"],
    "quantum": ["beats"],
    "time": ["timedelta"],
    "num_peers": ["int"],
    "lead": ["seconds"],
    "clock_offset": ["seconds"],
    "stats": ["ms"],
    "sync": ["beats", "future"],
    "every": ["beats"],
    "time_at_beat": ["timedelta"],
    "beat_at_time": ["timedelta", "seconds"],
    "set_is_playing_and_request_beat_at_time": ["timedelta", "seconds"],
    "ramp_tempo": ["bpm", "beats"],
    "set_tempo_callback": ["bpm"],
    "add_tempo_callback": ["bpm"],
    "set_num_peers_callback": ["int"],
    "add_num_peers_callback": ["int"],
    "set_start_stop_callback": ["bool"],
    "add_start_stop_callback": ["bool"],
}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_docstrings_state_their_units(name):
    doc = inspect.getdoc(getattr(Link, name)).lower()
    for unit in UNITS[name]:
        assert unit in doc, f"Link.{name}: {unit!r} not in {doc!r}"


def test_help_shows_signatures_and_docs():
    text = pydoc.render_doc(Link, renderer=pydoc.plaintext)
    assert "sync(self, /, beat, offset=0, origin=0, *, lead=None)" in text
    assert "every(self, /, beat, offset=0, origin=0, *, skip_late=False, lead=None)" in text
    assert "request_beat(self, beat, /)" in text
    for name in public_members():
        assert name in text, name
    # Properties are listed with their docs under "Data descriptors".
    assert "Session tempo in bpm" in text
    module_text = pydoc.render_doc(aalink, renderer=pydoc.plaintext)
    assert "await beats of an Ableton Link session" in module_text


def test_signatures_are_introspectable():
    assert str(inspect.signature(Link.sync)) == "(self, /, beat, offset=0, origin=0, *, lead=None)"
    assert list(inspect.signature(Link.request_beat).parameters) == ["self", "beat"]
    assert list(inspect.signature(Link.close).parameters) == ["self"]


def test_the_monitor_modules_are_documented():
    from aalink import __main__ as main_module
    from aalink import monitor

    assert main_module.__doc__ and "python -m aalink" in main_module.__doc__
    assert monitor.__doc__
    for name in ("main", "build_parser", "phase_bar", "fmt_beats"):
        assert getattr(monitor, name).__doc__, name
