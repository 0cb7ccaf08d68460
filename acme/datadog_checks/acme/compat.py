# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The base package's API as every supported Agent has it: the Agent installs this check without checking the
version of the `datadog-checks-base` it embeds, so what a newer base added is imported with a fallback here."""

try:
    from datadog_checks.base.utils.format import json
except ImportError:  # datadog-checks-base < 37.8.0
    from datadog_checks.base.utils.serialization import json  # type: ignore[no-redef]

from datadog_checks.base.checks.base import datadog_agent

__all__ = ['datadog_agent', 'json']
