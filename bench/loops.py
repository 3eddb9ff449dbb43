"""Run a coroutine function on the event loop chosen by name (asyncio or uvloop)."""
import asyncio


def run(main, loop_name):
    """Run `main()` to completion on a new loop of kind `loop_name`; return its result."""
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
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
