# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The base package's API on every supported base (36.12.0 and up): `agent integration install` checks the base's
version, but `install -w` (a local wheel) does not, so what a newer base added is imported with a fallback here."""

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.base import datadog_agent  # noqa: F401  (for the other modules)

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
