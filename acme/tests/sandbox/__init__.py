# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""A sandbox ACME Logs API server (stdlib only, so it also runs in a bare python image)."""

from .data import LogSpec, generate_bulk, generate_logs
from .faults import Faults
from .server import OMIT, AcmeSandbox
from .stats import RequestRecord, SandboxStats

__all__ = [
    'OMIT',
    'AcmeSandbox',
    'Faults',
    'LogSpec',
    'RequestRecord',
    'SandboxStats',
    'generate_bulk',
    'generate_logs',
]
