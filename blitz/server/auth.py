"""Check one connection's AUTH tokens against the server's token.

The comparison takes constant time (`hmac.compare_digest`).  A wrong token is
answered only after a delay that doubles with every failure on the same
connection (capped), and the protocol runs one command at a time, so a
connection can try at most one token per delay.  An `AddressThrottle`, shared
by all connections, does the same per client address: its wrong tokens are
answered one after the other, each a doubling delay after the previous one,
so opening more connections does not buy more guesses.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred, succeed


class Clock(Protocol):
    """What this module needs of a reactor: IReactorTime.callLater (task.Clock in tests)."""

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> Any: ...

    def seconds(self) -> float: ...


class AddressThrottle:
    """Wrong tokens per client address, across its connections.

    The n-th wrong token from an address (n = 1, 2, ...) is answered no
    earlier than `min(base * 2**(n-1), max)` after the previous answer to
    that address; an address quiet for `forget_after_s` starts again from 1.
    At most `max_addresses` are remembered (the longest quiet forgotten first).
    """

    def __init__(self, base_delay_s: float = 1.0, max_delay_s: float = 30.0,
                 forget_after_s: float = 120.0, max_addresses: int = 4096) -> None:
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._forget_after_s = forget_after_s
        self._max_addresses = max_addresses
        self._entries: OrderedDict[str, tuple[int, float]] = OrderedDict()  # failures, last answer time

    def answer_at(self, address: str, now_s: float, earliest_s: float) -> float:
        """Record a wrong token from `address`; return when it may be answered (>= `earliest_s`)."""
        failures, last_s = self._entries.pop(address, (0, now_s))
        if now_s - last_s > self._forget_after_s:
            failures, last_s = 0, now_s
        at_s = earliest_s
        if failures:
            at_s = max(at_s, last_s + min(self._base_delay_s * 2.0 ** failures, self._max_delay_s))
        self._entries[address] = (failures + 1, at_s)
        while len(self._entries) > self._max_addresses:
            self._entries.popitem(last=False)
        return at_s


class TokenGate:
    """The authentication state of one connection."""

    def __init__(
        self,
        token: str | None,
        clock: Clock,
        base_delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        throttle: AddressThrottle | None = None,
        address: str | None = None,
    ) -> None:
        """`token` None means the server needs no authentication; `throttle` is shared per server."""
        if token is not None and not token.strip():
            raise ValueError("the token must not be empty: nobody could log in")
        self._token = None if token is None else token.encode("utf-8")
        self._throttle = throttle if address is not None else None
        self._address = address
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
        if self._throttle is not None and self._address is not None:
            now_s = self._clock.seconds()
            delay_s = self._throttle.answer_at(self._address, now_s, now_s + delay_s) - now_s
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

