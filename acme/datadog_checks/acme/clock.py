# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The one place the integration reads time or waits, so tests can step through hours in microseconds."""

from __future__ import annotations

import time as _time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Unix seconds, for timestamps and ACME's rate-limit deadlines."""

    def monotonic(self) -> float:
        """Seconds for measuring durations within a run."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)
    sleep = staticmethod(_time.sleep)
