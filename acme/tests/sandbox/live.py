# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""A background feed of fresh logs, so a crawler of the dev environment always has new data.

Each tick stores the logs whose timestamps fell in the last tick; some are only readable up to
the ingestion delay later, the way ACME's late arrival behaves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from .data import generate_logs
from .server import AcmeSandbox

# Pruning a multi-million-log stream costs a little; once a minute is plenty.
_PRUNE_EVERY = 60.0


class LiveFeed:
    def __init__(
        self,
        sandbox: AcmeSandbox,
        streams: Sequence[str],
        *,
        rate: float,
        seed: int = 0,
        late_rate: float = 0.3,
        interval: float = 1.0,
    ) -> None:
        self.sandbox = sandbox
        self.streams = list(streams)
        self.rate = rate
        self.seed = seed
        self.late_rate = late_rate
        self.interval = interval
        self._stop = threading.Event()
        self._since = 0.0
        self._thread = threading.Thread(target=self._run, name='acme-sandbox-live', daemon=True)

    def start(self, *, since: float | None = None) -> None:
        self._since = self.sandbox.now() if since is None else since
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        tick = 0
        last_prune = self._since
        # Fractional logs carry over so low rates (0.2/s) still produce the right average.
        owed = dict.fromkeys(self.streams, 0.0)
        while not self._stop.wait(self.interval):
            now = self.sandbox.now()
            if now <= self._since:
                continue
            for stream in self.streams:
                owed[stream] += self.rate * (now - self._since)
                count = math.floor(owed[stream])
                owed[stream] -= count
                if not count:
                    continue
                logs = generate_logs(
                    seed=f'{self.seed}:{stream}:{tick}',
                    start=self._since,
                    end=now,
                    count=count,
                    late_rate=self.late_rate,
                    # Stored now, readable by timestamp + delay: never later than the contract allows.
                    max_late=self.sandbox.ingestion_delay,
                )
                self.sandbox.add_logs(stream, logs)
            self._since = now
            tick += 1
            if now - last_prune >= _PRUNE_EVERY:
                self.sandbox.prune()
                last_prune = now
