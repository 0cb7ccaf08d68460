# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The base package's API as every supported Agent has it: the Agent installs this check without checking the
version of the `datadog-checks-base` it embeds, so what a newer base added is imported with a fallback here.

The oldest base supported is 36.12.0 (pyproject.toml); `./dev test` runs the whole suite on it (hatch.toml).
"""

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.base import datadog_agent
from datadog_checks.base.utils.models import validation

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


class _NoTrustedProviderCheck:
    """`validation.security` for datadog-checks-base < 37.33.0, which the generated config models call when an
    option such as `tls_ca_cert` is set. Those bases restrict no option to trusted config providers, and a newer
    base given no security settings (as those bases give none) allows every value: so this allows every value."""

    @staticmethod
    def check_field_trusted_provider(field_name, value, security_config) -> None:
        return None


def provide_validation_security() -> None:
    """Give the base's `validation` package a `security` member where it has none (called by config_models)."""
    if not hasattr(validation, 'security'):
        validation.security = _NoTrustedProviderCheck  # type: ignore[attr-defined]


__all__ = ['KEYS_BY_PERSISTENT_CACHE_ID', 'datadog_agent', 'json', 'provide_validation_security']
