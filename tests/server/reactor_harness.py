"""Run a test scenario on a private, real reactor (the global one can run only once).

`run(scenario, timeout_s)` builds a fresh poll reactor, runs the generator
function `scenario(reactor)` with inlineCallbacks on it, stops the reactor
when it ends, and re-raises its failure; a scenario that outlives
`timeout_s` fails the test instead of hanging it.
"""

from __future__ import annotations

from typing import Any, Callable, Generator

from twisted.internet.defer import Deferred, ensureDeferred, inlineCallbacks
from twisted.internet.pollreactor import PollReactor
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

Scenario = Callable[[Any], Generator[Any, Any, Any]]


def run(scenario: Scenario, timeout_s: float = 30.0) -> Any:
    """Run `scenario(reactor)` on a new real reactor; return its result or raise."""
    reactor = PollReactor()
    outcome: list[Any] = []

    def begin() -> None:
        d = inlineCallbacks(scenario)(reactor)
        timer = reactor.callLater(timeout_s, lambda: d.cancel() if not d.called else None)

        def finish(result: Any) -> None:
            if timer.active():
                timer.cancel()
            outcome.append(result)
            reactor.callLater(0, reactor.stop)

        d.addBoth(finish)

    reactor.callWhenRunning(begin)
    reactor.run(installSignalHandlers=False)
    if not outcome:
        raise AssertionError("the reactor stopped before the scenario ended")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def sleep(reactor: Any, seconds: float) -> Deferred[None]:
    """A Deferred firing after `seconds` of real time."""
    return deferLater(reactor, seconds, lambda: None)


@inlineCallbacks
def wait_until(reactor: Any, predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> Any:
    """Poll `predicate` every 20 ms until true; fail after `timeout_s`."""
    waited = 0.0
    while not predicate():
        if waited >= timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        yield sleep(reactor, 0.02)
        waited += 0.02


__all__ = ["ensureDeferred", "run", "sleep", "wait_until"]
