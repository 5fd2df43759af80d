"""Windows-safe event loops through loop factories, never the policy API (H8).

On Windows the default asyncio loop is the proactor loop, which several
libraries (and parallel test runs) trip over; the selector loop is the safe
choice.  Selecting it with ``asyncio.set_event_loop_policy`` is deprecated from
Python 3.14 on, so every loop this harness creates comes from a *factory*:
pytest-asyncio's ``pytest_asyncio_loop_factories`` hook where the installed
version has it, ``asyncio.Runner(loop_factory=...)`` for the harness's own
background loops.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

__all__ = ["run_with_loop_factory", "selector_loop_factory", "windows_loop_factory"]

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: the id pytest-asyncio shows in test ids for the factory we install
FACTORY_NAME = "selector"


def _is_windows() -> bool:
    """Read ``sys.platform`` at call time so tests can simulate Windows."""
    return sys.platform == "win32"


def selector_loop_factory() -> asyncio.AbstractEventLoop:
    """A selector event loop on ``select()``, the selector Windows' own selector loop uses."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def windows_loop_factory() -> LoopFactory | None:
    """This platform's factory: the selector loop on Windows, None (the default) elsewhere."""
    return selector_loop_factory if _is_windows() else None


def run_with_loop_factory(
    main: Coroutine[Any, Any, T], loop_factory: LoopFactory | None = None
) -> T:
    """Run ``main`` on a fresh loop from ``loop_factory`` (``asyncio.run`` with a factory).

    Uses ``asyncio.Runner`` (3.11+) and an equivalent hand-written sequence on
    3.10, so no code path needs the policy API.
    """
    runner_cls = getattr(asyncio, "Runner", None)
    if runner_cls is not None:
        with runner_cls(loop_factory=loop_factory) as runner:
            return runner.run(main)  # type: ignore[no-any-return]
    loop = loop_factory() if loop_factory is not None else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` and let it unwind, as ``asyncio.run`` does."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class WindowsLoopPlugin:
    """Registered only when ``ctxprop_windows_loop`` is on, the platform is Windows and
    pytest-asyncio has the loop-factory hook: an unconditional hook implementation
    would re-parametrize every asyncio test, which a plugin must not do uninvited."""

    def pytest_asyncio_loop_factories(self, config: Any, item: Any) -> Mapping[str, LoopFactory]:
        """Run every pytest-asyncio test on the selector loop."""
        return {FACTORY_NAME: selector_loop_factory}


def pytest_asyncio_has_factory_hook(config: Any) -> bool:
    """Whether the installed pytest-asyncio declares ``pytest_asyncio_loop_factories``."""
    return hasattr(config.hook, "pytest_asyncio_loop_factories")
