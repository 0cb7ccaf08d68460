# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The base package's API as every supported Agent has it. `agent integration install` refuses a wheel whose
`datadog-checks-base` requirement the Agent's embedded base does not meet, but `agent integration install -w` (a local
wheel) installs with `--no-deps` and skips that check: so what a newer base added is imported with a fallback here.

The oldest base supported is 36.12.0 (pyproject.toml); `./dev test` runs the whole suite on it (hatch.toml).
"""

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.base import datadog_agent

# Base 37.20.0 and up key the persistent cache by `persistent_cache_id()`, a hook checks may override; older bases by
# the check id, a digest of the whole configuration (a new tag or a rotated token would lose every cursor).
KEYS_BY_PERSISTENT_CACHE_ID = hasattr(AgentCheck, 'persistent_cache_id')

try:
    from datadog_checks.base.utils.format import json
except ImportError:  # datadog-checks-base < 37.8.0
    from datadog_checks.base.utils.serialization import from_json, to_json

    class json:  # type: ignore[no-redef]
        """What the check uses of `utils.format.json`, over the older `utils.serialization` (orjson if present)."""

        decode = staticmethod(from_json)
        encode = staticmethod(to_json)


__all__ = ['KEYS_BY_PERSISTENT_CACHE_ID', 'datadog_agent', 'json']
