"""A package's public names imported on first use (PEP 562), so that importing one of its
modules does not import the others (and what they need: pandas, the renderers)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, names: dict[str, str],
               namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``names``.

    Parameters
    ----------
    package
        The package's ``__name__`` (for the error message).
    names
        Each public name and the module that defines it (absolute).
    namespace
        The package's ``globals()``: a name looked up once is kept there.

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)`` to assign in the package.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # looked up once
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
