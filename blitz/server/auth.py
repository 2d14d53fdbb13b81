"""Check one connection's AUTH tokens against the server's token.

The comparison takes constant time (`hmac.compare_digest`).  A wrong token is
answered only after a delay that doubles with every failure on the same
connection (capped), and the protocol runs one command at a time, so a
connection can try at most one token per delay.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred, succeed


class Clock(Protocol):
    """What this module needs of a reactor: IReactorTime.callLater (task.Clock in tests)."""

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> Any: ...


class TokenGate:
    """The authentication state of one connection."""

    def __init__(
        self,
        token: str | None,
        clock: Clock,
        base_delay_s: float = 1.0,
        max_delay_s: float = 30.0,
    ) -> None:
        """`token` None means the server needs no authentication."""
        self._token = None if token is None else token.encode("utf-8")
        self._clock = clock
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._pending: Any = None
        self.authenticated = token is None
        self.failures = 0

    @property
    def required(self) -> bool:
        """Whether the server has a token at all."""
        return self._token is not None

    def next_delay_s(self) -> float:
        """How long the next wrong token will wait before it is answered."""
        return min(self._base_delay_s * 2.0 ** self.failures, self._max_delay_s)

    def check(self, candidate: str) -> Deferred[bool]:
        """Fire True at once for the right token, False after the delay otherwise.

        A failed attempt does not revoke an earlier successful one.
        """
        if self._token is None:
            return succeed(True)
        if hmac.compare_digest(candidate.encode("utf-8"), self._token):
            self.authenticated = True
            return succeed(True)
        delay_s = self.next_delay_s()
        self.failures += 1
        answer: Deferred[bool] = Deferred()

        def answer_now() -> None:
            self._pending = None
            answer.callback(False)

        self._pending = self._clock.callLater(delay_s, answer_now)
        return answer

    def cancel(self) -> None:
        """Forget a delayed answer (the connection is gone); its Deferred never fires."""
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

