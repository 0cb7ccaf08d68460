# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Upload the integration's logs pipeline, dashboard and monitors to a Datadog organization.

Datadog installs them with the integration tile; an Agent running a privately installed build of the check gets
none of them. From acme/ (or `./dev upload-assets`):

    DD_API_KEY=... DD_APP_KEY=... python -m tests.upload_assets                # DD_SITE, default datadoghq.com
    DD_API_KEY=... DD_APP_KEY=... DD_SITE=datadoghq.eu python -m tests.upload_assets
    python -m tests.upload_assets --api-url https://api.us5.datadoghq.com      # overrides DD_SITE
    python -m tests.upload_assets --dry-run                                    # sends nothing

It is idempotent: an asset whose name (pipeline, monitor) or title (dashboard) is already in the organization is
updated in place (PUT), not created again. The keys need the scopes to write logs pipelines (Logs Write
Pipelines), dashboards and monitors. With --dry-run nothing is written: with both keys set, it looks up what exists
and says what it would create or update; without them, it only converts and checks the files.

What is uploaded, as listed in manifest.json:
- the logs pipeline, assets/logs/<logs source>.yaml, turned from integrations-core's YAML into the Logs Pipelines
  API's JSON (`pipeline_payload`): `enabled` -> `is_enabled`, `encoded` -> `is_encoded`, camelCase -> snake_case
  (`preserveSource` -> `preserve_source`, `overrideOnConflict` -> `override_on_conflict`, `sourceType` ->
  `source_type`, `targetType` -> `target_type`, `supportRules` -> `support_rules`...), nested pipelines included;
  the YAML's facets are not part of a pipeline (the API has no facets), and are not uploaded;
- each dashboard, POST /api/v1/dashboard with its JSON as it is;
- each monitor's `definition`, POST /api/v1/monitor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent  # acme/
DEFAULT_SITE = 'datadoghq.com'
TIMEOUT = 30

PIPELINES = '/api/v1/logs/config/pipelines'
DASHBOARDS = '/api/v1/dashboard'
MONITORS = '/api/v1/monitor'

# integrations-core's pipeline YAML -> the Logs Pipelines API, where a name is not just camelCase -> snake_case.
_RENAMED = {'enabled': 'is_enabled', 'encoded': 'is_encoded', 'replaceMissing': 'is_replace_missing'}
_CAMEL = re.compile(r'(?<=[a-z0-9])([A-Z])')
# Values that are data, not API objects: their keys are kept as they are.
_VERBATIM = {'samples', 'lookup_table'}


class UploadError(Exception):
    """Something the operator has to fix; the message says what (and never contains a key)."""


# --- Assets -------------------------------------------------------------------------------------------------------


class Asset:
    """One thing to upload: its kind (pipeline, dashboard, monitor), its name or title, and the API's JSON."""

    def __init__(self, kind: str, name: str, payload: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.payload = payload


def api_name(key: str) -> str:
    """The Logs Pipelines API's name for a key of integrations-core's pipeline YAML."""
    return _RENAMED.get(key) or _CAMEL.sub(r'_\1', key).lower()


def _to_api(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_api(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        name = api_name(key)
        converted[name] = item if name in _VERBATIM else _to_api(item)
    return converted


def pipeline_payload(pipeline_yaml: dict[str, Any]) -> dict[str, Any]:
    """The Logs Pipelines API's JSON for the `pipeline` of an integrations-core pipeline YAML file."""
    pipeline = pipeline_yaml.get('pipeline')
    if not isinstance(pipeline, dict) or not pipeline.get('name') or not isinstance(pipeline.get('filter'), dict):
        raise UploadError('the pipeline YAML has no `pipeline` with a `name` and a `filter`')
    payload = _to_api({key: value for key, value in pipeline.items() if key != 'type'})  # `type` is read-only
    payload.setdefault('is_enabled', True)
    payload.setdefault('processors', [])
    return payload


def load_assets(root: Path = ROOT) -> list[Asset]:
    """The pipeline, dashboards and monitors manifest.json lists, ready to upload."""
    manifest = json.loads((root / 'manifest.json').read_text())
    listed = manifest['assets']
    assets = []
    source = (listed.get('logs') or {}).get('source')
    if source:
        pipeline = pipeline_payload(yaml.safe_load((root / 'assets' / 'logs' / f'{source}.yaml').read_text()))
        assets.append(Asset('pipeline', pipeline['name'], pipeline))
    for path in (listed.get('dashboards') or {}).values():
        dashboard = json.loads((root / path).read_text())
        assets.append(Asset('dashboard', dashboard['title'], dashboard))
    for path in (listed.get('monitors') or {}).values():
        definition = json.loads((root / path).read_text())['definition']
        assets.append(Asset('monitor', definition['name'], definition))
    return assets


# --- Datadog's API --------------------------------------------------------------------------------------------------


def api_url_for(site: str) -> str:
    site = site.strip().rstrip('/')
    if '://' in site:
        raise UploadError(f'DD_SITE is a site such as {DEFAULT_SITE} or datadoghq.eu, not a URL (use --api-url)')
    return f'https://api.{site}'


def app_url_for(api_url: str) -> str:
    """Where the web app is, for the links printed: app.datadoghq.com, us3.datadoghq.com, or the API URL itself."""
    parts = urlsplit(api_url)
    host = parts.hostname or ''
    if not host.startswith('api.'):
        return api_url.rstrip('/')
    site = host[len('api.') :]
    app = f'app.{site}' if site.count('.') == 1 else site  # datadoghq.com, datadoghq.eu; us3.datadoghq.com
    return f'{parts.scheme}://{app}'


class Datadog:
    """The three kinds of asset, through Datadog's API: list by name, create, update."""

    def __init__(self, api_url: str, api_key: str, app_key: str, session: requests.Session | None = None) -> None:
        self.api_url = api_url.rstrip('/')
        self._keys = [key for key in (api_key, app_key) if key]
        self.session = session or requests.Session()
        self.session.headers.update(
            {'DD-API-KEY': api_key, 'DD-APPLICATION-KEY': app_key, 'Content-Type': 'application/json'}
        )

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.api_url + path
        try:
            response = self.session.request(method, url, json=body, timeout=TIMEOUT)
        except requests.RequestException as e:
            raise UploadError(self.scrub(f'{method} {url} failed: {type(e).__name__}: {e}')) from None
        if response.status_code in (401, 403):
            raise UploadError(
                f'Datadog refused the keys ({method} {path}: HTTP {response.status_code}): check that DD_API_KEY '
                f'and DD_APP_KEY belong to the organization at {self.api_url} (DD_SITE or --api-url) and that the '
                f'application key may write logs pipelines, dashboards and monitors'
            )
        if not response.ok:
            raise UploadError(self.scrub(f'{method} {path}: HTTP {response.status_code}: {_errors(response)}'))
        return response.json() if response.content else None

    def scrub(self, text: str) -> str:
        """`text` without the keys, should a server or a library ever echo one."""
        for key in self._keys:
            text = text.replace(key, '<key>')
        return text

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        """The organization's asset of that kind with that name (title), if any: the first, if several."""
        if kind == 'pipeline':
            found = [item for item in self.request('GET', PIPELINES) or [] if item.get('name') == name]
        elif kind == 'dashboard':
            listed = (self.request('GET', DASHBOARDS) or {}).get('dashboards') or []
            found = [item for item in listed if item.get('title') == name]
        else:
            listed = self.request('GET', f'{MONITORS}?{urlencode({"name": name})}') or []  # a substring match
            found = [item for item in listed if item.get('name') == name]
        return found[0] if found else None

    def create(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request('POST', _PATHS[kind], payload)

    def update(self, kind: str, asset_id: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request('PUT', f'{_PATHS[kind]}/{asset_id}', payload)


_PATHS = {'pipeline': PIPELINES, 'dashboard': DASHBOARDS, 'monitor': MONITORS}


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get('errors')
    except (ValueError, AttributeError):
        errors = None
    text = '; '.join(map(str, errors)) if isinstance(errors, list) and errors else response.text
    return text[:500]


def link(app_url: str, kind: str, stored: dict[str, Any]) -> str:
    if kind == 'dashboard':
        url = stored.get('url') or f"/dashboard/{stored['id']}"
        return url if '://' in url else app_url + url
    if kind == 'monitor':
        return f"{app_url}/monitors/{stored['id']}"
    return f'{app_url}/logs/pipelines'


# --- Upload ---------------------------------------------------------------------------------------------------------


def upload(
    assets: list[Asset], datadog: Datadog | None, *, dry_run: bool, print_line: Callable[[str], None] = print
) -> list[tuple[str, str, Any]]:
    """Create or update each asset; print one line each. Returns (kind, what was done, id) per asset."""
    app_url = app_url_for(datadog.api_url) if datadog else ''
    done = []
    for asset in assets:
        label = f'{asset.kind} {asset.name!r}'
        if datadog is None:
            print_line(f'{label}: would be uploaded (dry run, no keys: nothing looked up)')
            done.append((asset.kind, 'checked', None))
            continue
        existing = datadog.find(asset.kind, asset.name)
        if asset.kind == 'pipeline' and existing and existing.get('is_read_only'):
            # The integration's own pipeline, installed with its tile: it cannot be changed, and is the same.
            print_line(f'{label}: skipped, a read-only pipeline of that name exists (installed with the tile)')
            done.append((asset.kind, 'skipped', existing['id']))
            continue
        if dry_run:
            action = f"would update {existing['id']}" if existing else 'would create'
            print_line(f'{label}: {action} (dry run)')
            done.append((asset.kind, 'would update' if existing else 'would create', existing and existing['id']))
            continue
        if existing:
            stored, action = datadog.update(asset.kind, existing['id'], asset.payload), 'updated'
        else:
            stored, action = datadog.create(asset.kind, asset.payload), 'created'
        print_line(f"{label}: {action}, id {stored['id']}: {link(app_url, asset.kind, stored)}")
        done.append((asset.kind, action, stored['id']))
    return done


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tests.upload_assets',
        description="Upload the ACME integration's logs pipeline, dashboard and monitors to a Datadog organization. "
        'Keys from DD_API_KEY and DD_APP_KEY; the site from DD_SITE (default datadoghq.com).',
    )
    parser.add_argument(
        '--api-url', help="Datadog's API URL, e.g. https://api.datadoghq.eu (default: https://api.<DD_SITE>)"
    )
    parser.add_argument('--dry-run', action='store_true', help='change nothing: say what would be created or updated')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        assets = load_assets()
        api_key, app_key = env.get('DD_API_KEY', '').strip(), env.get('DD_APP_KEY', '').strip()
        missing = [name for name, value in (('DD_API_KEY', api_key), ('DD_APP_KEY', app_key)) if not value]
        if missing and not (args.dry_run and len(missing) == 2):
            raise UploadError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the organization's "
                f'API key as DD_API_KEY and an application key as DD_APP_KEY'
            )
        datadog = None
        if not missing:
            api_url = args.api_url or api_url_for(env.get('DD_SITE') or DEFAULT_SITE)
            datadog = Datadog(api_url, api_key, app_key)
        upload(assets, datadog, dry_run=args.dry_run)
    except UploadError as e:
        print(f'upload_assets: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
