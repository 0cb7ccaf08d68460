# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Run the sandbox standalone: `python -m tests.sandbox --port 8080` from the integration's root.

Prints one line, `ACME sandbox listening on http://HOST:PORT`, once every preloaded log is in
place, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import signal
import sys
import threading
from collections.abc import Sequence

from .data import generate_bulk, generate_logs
from .faults import Faults
from .live import LiveFeed
from .server import AcmeSandbox

# Backfill is generated an hour at a time so the rich generator never holds much in memory.
_BACKFILL_CHUNK = 3600.0
# Streams were created some time in 2025 (see _created_at).
_CREATED_FROM = 1735689600.0
_CREATED_SPAN = 365 * 86400
# Bulk logs end this far in the past, beyond the ingestion delay, so a benchmark sees a settled set.
_BULK_SETTLED = 120.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    streams = [s.strip() for s in args.streams.split(',') if s.strip()]
    if not streams:
        raise SystemExit('--streams needs at least one stream id')
    sandbox = AcmeSandbox(
        token=args.token,
        seed=args.seed,
        faults=Faults.mixed(args.fault_rate) if args.fault_rate else Faults(),
        rate_limits=not args.no_rate_limits,
        per_second=args.per_second,
        per_minute=args.per_minute,
        render_offsets=not args.no_render_offsets,
        clock_offset=args.clock_offset,
        host=args.host,
        port=args.port,
    )
    # History is laid out on ACME's clock, which --clock-offset may put apart from the host's.
    now = sandbox.now()
    # Preloading creates millions of long-lived objects; cyclic GC passes over them would
    # dominate the load time, and afterwards freezing keeps them out of every later pass.
    gc.disable()
    for stream in streams:
        sandbox.add_stream(stream, name=_display_name(stream), created_at=_created_at(stream, args.seed))
        _backfill(sandbox, stream, now=now, seconds=args.backfill, rate=args.backfill_rate, seed=args.seed)
    if args.bulk:
        bulk_stream = args.bulk_stream or streams[0]
        if bulk_stream not in streams:
            sandbox.add_stream(bulk_stream, name='Bulk benchmark data', created_at=_created_at(bulk_stream, args.seed))
        end = now - _BULK_SETTLED
        sandbox.add_logs(
            bulk_stream,
            generate_bulk(seed=args.seed, start=end - args.bulk_span, end=end, count=args.bulk),
        )
    gc.freeze()
    gc.enable()
    feed = LiveFeed(sandbox, streams, rate=args.rate, seed=args.seed) if args.rate > 0 else None

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    sandbox.start()
    if feed is not None:
        feed.start(since=now)
    print(f'ACME sandbox listening on {sandbox.url}', flush=True)
    # Event.wait without a timeout is not interruptible on every platform; poll instead.
    while not stopping.wait(0.5):
        pass
    if feed is not None:
        feed.stop()
    sandbox.stop()
    return 0


def _backfill(sandbox: AcmeSandbox, stream: str, *, now: float, seconds: float, rate: float, seed: int) -> None:
    start = now - seconds
    chunk = 0
    while start < now and rate > 0:
        end = min(start + _BACKFILL_CHUNK, now)
        count = round((end - start) * rate)
        if count:
            # Late arrival only matters near `now`; logs generated with visible_at in the past
            # are simply visible.
            logs = generate_logs(seed=f'{seed}:{stream}:backfill:{chunk}', start=start, end=end, count=count)
            sandbox.add_logs(stream, logs)
        start, chunk = end, chunk + 1


def _created_at(stream: str, seed: int) -> float:
    """The same creation instant at every start, as a real ACME keeps it: it is part of a stream's identity, so
    a restarted sandbox must not look like an account whose streams were all created again."""
    digest = hashlib.sha256(f'{seed}:{stream}'.encode()).digest()
    return _CREATED_FROM + int.from_bytes(digest[:4], 'big') % _CREATED_SPAN


def _display_name(stream: str) -> str:
    known = {'prod-web': 'Production web tier', 'audit': 'Account audit trail'}
    return known.get(stream, stream.replace('-', ' ').replace('_', ' ').capitalize())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m tests.sandbox', description='Sandbox ACME Logs API server.')
    parser.add_argument('--host', default='127.0.0.1', help='bind address (0.0.0.0 inside a container)')
    parser.add_argument('--port', type=int, default=8080, help='0 picks a free port')
    parser.add_argument('--token', default='sandbox-token')
    parser.add_argument('--streams', default='prod-web,audit', help='comma-separated stream ids')
    parser.add_argument('--rate', type=float, default=20.0, help='live logs per second per stream (0: none)')
    parser.add_argument('--backfill', type=float, default=72000.0, help='seconds of history generated at start')
    parser.add_argument(
        '--backfill-rate', type=float, default=1.0, help='logs per second per stream in the backfilled history'
    )
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--fault-rate', type=float, default=0.0, help='error/short-page rate; other faults scale')
    parser.add_argument('--no-rate-limits', action='store_true')
    parser.add_argument('--per-second', type=int, default=10)
    parser.add_argument('--per-minute', type=int, default=300)
    parser.add_argument('--no-render-offsets', action='store_true', help='render every timestamp as UTC (Z)')
    parser.add_argument(
        '--clock-offset',
        type=float,
        default=0.0,
        metavar='SECONDS',
        help="how far ACME's clock runs ahead of this host's (negative: behind)",
    )
    parser.add_argument('--bulk', type=int, default=0, help='preload this many plain logs (benchmarks)')
    parser.add_argument('--bulk-stream', default=None, help='stream for --bulk (default: the first of --streams)')
    parser.add_argument('--bulk-span', type=float, default=86400.0, help='seconds the --bulk logs spread over')
    return parser


if __name__ == '__main__':
    sys.exit(main())
