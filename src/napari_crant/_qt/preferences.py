"""napari-crant's page in napari's Preferences: default dataset and extra CAVE servers.

The page is declared in the manifest (``contributions.configurations.datasets``) and saved by
napari as plain YAML next to its own settings, so it must never hold a token: entries with
one are refused (tokens are saved with caveclient's own mechanism).
"""

import json
import os
from typing import Any

from napari_crant.datasets import ENV_DATASET, DatasetError, get_default_dataset, set_default_dataset

PLUGIN = "napari-crant"


class PreferencesError(ValueError):
    """The Preferences page holds something napari-crant cannot use."""


def read_preferences() -> Any:
    """The ``datasets`` section of napari-crant's plugin settings (``None`` if napari has none)."""
    try:
        from napari.settings import get_plugin_settings

        return get_plugin_settings(PLUGIN).datasets
    except (ImportError, KeyError, AttributeError):
        return None


def apply_preferences(prefs: Any = None) -> list[str]:
    """Register the CAVE servers and the default dataset of the Preferences page.

    The environment variable ``NAPARI_CRANT_DATASET`` and an explicit
    :func:`~napari_crant.set_default_dataset` win over the page's default dataset.

    Returns
    -------
    list of str
        Problems found (each already explains itself); empty if all applied.
    """
    prefs = read_preferences() if prefs is None else prefs
    if prefs is None:
        return []
    problems: list[str] = []
    raw = (getattr(prefs, "cave_servers", "") or "").strip()
    if raw:
        try:
            _register_servers(raw, float(getattr(prefs, "cave_timeout", 120) or 120))
        except PreferencesError as e:
            problems.append(str(e))
    default = (getattr(prefs, "default_dataset", "") or "").strip()
    from napari_crant import datasets

    if default and not os.environ.get(ENV_DATASET) and datasets._default is None and default != "demo":
        try:
            set_default_dataset(default)
        except DatasetError as e:
            problems.append(f"Preferences › default dataset: {e}")
    return problems


def _register_servers(raw: str, timeout: float) -> None:
    from napari_crant.sources.cave import CaveError, parse_cave_servers, register_cave_dataset

    try:
        # the token check first: a token must not even reach other error messages
        data = json.loads(raw)
        entries = (data.items() if isinstance(data, dict)
                   else [(e.get("name"), e) for e in data if isinstance(e, dict)] if isinstance(data, list)
                   else [])
        for name, entry in entries:
            if isinstance(entry, dict) and any("token" in k.lower() for k in entry):
                raise PreferencesError(
                    f"Preferences › CAVE server {name!r} holds a token: the settings file is plain text, "
                    "so tokens are not accepted there; save it with caveclient (auth.save_token)"
                )
        servers = parse_cave_servers(raw, "Preferences › extra CAVE servers")
    except json.JSONDecodeError as e:
        raise PreferencesError(f"Preferences › extra CAVE servers is not valid JSON: {e}") from None
    except CaveError as e:
        raise PreferencesError(str(e)) from None
    for entry in servers:
        register_cave_dataset(entry.pop("name"), **{"timeout": timeout, **entry})


def default_dataset_name() -> str:
    """The dataset a new query dock starts with."""
    return get_default_dataset()
