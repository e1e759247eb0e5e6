"""Admission control: a request takes a slot and a share of the memory budget before its body is read.

Runs on the server's event loop only (no locks). Waiting requests are served first come, first served,
so a large request is not starved by a stream of small ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Admission", "Refused", "Ticket"]


class Refused(Exception):
    """The request cannot be admitted; ``too_large`` means never (413), otherwise not now (503)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass
class Ticket:
    """What one admitted request holds: a slot and ``cost`` bytes of the budget."""

    cost: int
    released: bool = field(default=False)


class Admission:
    """``slots`` requests at once, holding at most ``budget`` bytes between them.

    A request waits up to ``wait`` seconds for its turn, and is refused when its turn does not come.
    """

    def __init__(self, slots: int, budget: int, wait: float) -> None:
        self.slots = slots
        self.budget = budget
        self.wait = wait
        self.active = 0
        self.reserved = 0
        self._queue: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _fits(self, cost: int) -> bool:
        return self.active < self.slots and self.reserved + cost <= self.budget

    def _take(self, cost: int) -> Ticket:
        self.active += 1
        self.reserved += cost
        return Ticket(cost)

    def _refuse_if_too_large(self, cost: int) -> None:
        if cost > self.budget:
            raise Refused(
                f"the request needs {cost} bytes of memory, more than the server's whole budget of "
                f"{self.budget} bytes (split the batch or start the server with a larger --memory-budget-bytes)",
                too_large=True,
            )

    async def admit(self, cost: int) -> Ticket:
        """A ticket for ``cost`` bytes; raises :class:`Refused` if it is too large or not granted in time."""
        self._refuse_if_too_large(cost)
        if not self._queue and self._fits(cost):
            return self._take(cost)
        if self.wait <= 0:
            raise Refused(self._busy())
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cost, turn)
        self._queue.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.wait)
        except asyncio.TimeoutError:
            if not turn.done():
                self._queue.remove(entry)
                turn.cancel()
                raise Refused(f"waited {self.wait:g} s; {self._busy()}") from None
        except asyncio.CancelledError:
            # The task was cancelled (server shutdown): a granted ticket is handed back.
            if turn.done() and not turn.cancelled():
                self._release(cost)
            elif entry in self._queue:
                self._queue.remove(entry)
            raise
        return Ticket(cost)  # _grant already counted it

    def _busy(self) -> str:
        return (
            f"server at capacity ({self.active}/{self.slots} requests, {self.reserved}/{self.budget} "
            f"bytes of memory budget in use, {len(self._queue)} waiting)"
        )

    def resize(self, ticket: Ticket, cost: int) -> None:
        """Set ``ticket`` to ``cost`` bytes: a smaller cost frees the difference for waiting requests, a
        larger one is taken now or :class:`Refused` (never waited for: a request that waited while holding
        memory could deadlock with the others)."""
        extra = cost - ticket.cost
        if extra > 0:
            self._refuse_if_too_large(cost)
            if self.reserved + extra > self.budget:
                raise Refused(f"its body needs {cost} bytes of memory to be read; {self._busy()}")
        self.reserved += extra
        ticket.cost = cost
        if extra < 0:
            self._grant()

    def release(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        ticket.released = True
        self._release(ticket.cost)

    def _release(self, cost: int) -> None:
        self.active -= 1
        self.reserved -= cost
        self._grant()

    def _grant(self) -> None:
        """Admit waiting requests in order while the first one fits."""
        while self._queue and self._fits(self._queue[0][0]):
            cost_next, turn = self._queue.popleft()
            if turn.cancelled():
                continue
            self.active += 1
            self.reserved += cost_next
            turn.set_result(None)
