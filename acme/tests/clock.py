# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
import threading


class FakeClock:
    """Time that moves only when told to, shared by the check and the sandbox, so runs hours apart take no time.

    `sleep` advances it: the check's waits for rate limits and backoff happen, and are measurable, instantly.
    """

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.time()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)
            self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
