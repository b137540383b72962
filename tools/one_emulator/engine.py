"""Virtual clock and timed events (the emulated drivers, scheduler and monitor).

Delays are given in real dummy-driver seconds and divided by the speed factor.  The clock can
be frozen: events then fire only through :meth:`Engine.step` / :meth:`Engine.advance`, which
lets tests observe every transient state deterministically.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Callable, List, Optional, Tuple


class Engine:
    """Timed event queue running callbacks under the emulator's lock."""

    def __init__(self, lock: threading.RLock, speed: float = 1.0) -> None:
        self.lock = lock
        self.speed = float(speed)
        self.frozen = False
        self._offset = 0.0
        self._frozen_at = 0.0
        self._queue: List[Tuple[float, int, Callable[..., Any], tuple]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(lock)
        self._stop = False
        self._thread: Optional[threading.Thread] = None
        self.on_idle: Optional[Callable[[], None]] = None

    # clock -------------------------------------------------------------------------------
    def now(self) -> float:
        """Engine time (monotonic seconds)."""
        if self.frozen:
            return self._frozen_at
        return time.monotonic() + self._offset

    def freeze(self, frozen: bool) -> None:
        """Freeze or unfreeze the engine clock."""
        with self.lock:
            if frozen and not self.frozen:
                self._frozen_at = self.now()
                self.frozen = True
            elif not frozen and self.frozen:
                self._offset = self._frozen_at - time.monotonic()
                self.frozen = False
            self._wake.notify_all()

    def set_speed(self, speed: float) -> None:
        """Change the speed factor (affects events scheduled afterwards)."""
        with self.lock:
            self.speed = max(float(speed), 1e-6)
            self._wake.notify_all()

    # events ------------------------------------------------------------------------------
    def later(self, delay: float, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` after ``delay`` emulated seconds."""
        with self.lock:
            due = self.now() + max(delay, 0.0) / self.speed
            heapq.heappush(self._queue, (due, next(self._seq), func, args))
            self._wake.notify_all()

    def pending(self) -> int:
        """Number of queued events."""
        return len(self._queue)

    def step(self) -> bool:
        """Fire the next event regardless of its due time (frozen clock)."""
        with self.lock:
            if not self._queue:
                return False
            due, _seq, func, args = heapq.heappop(self._queue)
            if self.frozen:
                self._frozen_at = max(self._frozen_at, due)
            func(*args)
            return True

    def advance(self, seconds: float) -> int:
        """Move a frozen clock forward by ``seconds`` emulated seconds, firing due events."""
        fired = 0
        with self.lock:
            target = self.now() + seconds / self.speed
            while self._queue and self._queue[0][0] <= target:
                self.step()
                fired += 1
            if self.frozen:
                self._frozen_at = max(self._frozen_at, target)
            else:
                self._offset += seconds / self.speed
        return fired

    def _run(self) -> None:
        with self.lock:
            while not self._stop:
                if self.frozen or not self._queue:
                    self._wake.wait(0.5)
                    if self.on_idle:
                        self.on_idle()
                    continue
                due = self._queue[0][0]
                wait = due - self.now()
                if wait > 0:
                    self._wake.wait(min(wait, 0.5))
                    if self.on_idle and wait >= 0.5:
                        self.on_idle()
                    continue
                _due, _seq, func, args = heapq.heappop(self._queue)
                try:
                    func(*args)
                except Exception:  # pylint: disable=broad-except
                    import traceback  # pylint: disable=import-outside-toplevel
                    traceback.print_exc()

    def start(self) -> None:
        """Start the event thread."""
        self._thread = threading.Thread(target=self._run, name="one-emulator-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the event thread."""
        with self.lock:
            self._stop = True
            self._wake.notify_all()
        if self._thread:
            self._thread.join(timeout=2)
