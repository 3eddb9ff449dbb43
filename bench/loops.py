"""Run a coroutine function on the event loop chosen by name.

asyncio: the default loop; uvloop; relay: an asyncio loop without
add_reader, as Windows' proactor loop is, so that the port delivers through
its call_soon_threadsafe relay thread instead of a watched descriptor."""

import asyncio

LOOP_NAMES = ["asyncio", "uvloop", "relay"]


class NoReaderLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError  # what the proactor loop raises


def run(main, loop_name):
    """Run `main()` to completion on a new loop of kind `loop_name`; return its result."""
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    elif loop_name == "relay":
        loop = NoReaderLoop()
    else:
        loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
