# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What the sandbox's own tests share (test_sandbox.py, test_sandbox_knobs.py): sandboxes on a clock of their own,
and requests to them over real HTTP. Imports nothing of the check, which these tests do not involve.

The fixtures are imported by name into those modules, where they shadow conftest's `clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from .sandbox import AcmeSandbox

TOKEN = 'sandbox-token'
# Another ACME customer on the same URL.
OTHER = 'other-customer-token'
T0 = 1_790_000_000.25  # 2026-09-21, a quarter second into a rate-limit window


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., AcmeSandbox]]:
    started: list[AcmeSandbox] = []

    def make(**options: Any) -> AcmeSandbox:
        options.setdefault('rate_limits', False)
        sandbox = AcmeSandbox(clock=clock.time, **options)
        started.append(sandbox.start())
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(
    http: requests.Session, sandbox: AcmeSandbox, path: str, *, token: str | None = TOKEN, **params: Any
) -> requests.Response:
    headers = {'Authorization': f'Bearer {token}'} if token is not None else {}
    return http.get(sandbox.url + path, params=params, headers=headers, timeout=5)


def error_code(response: requests.Response) -> str:
    return response.json()['error']['code']
