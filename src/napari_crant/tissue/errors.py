"""Errors of the tissue layer (EM and segmentation), importable without the renderers."""

from __future__ import annotations


class TissueError(ValueError):
    """Bad input to the synthetic tissue: a missing file, a bad bounding box or argument."""


class TissueUnavailable(TissueError):
    """A dataset (or server) has no EM or segmentation to cut from, or cannot reach it.

    The message says which dataset lacks what (``"dataset 'x' has no image source"``), or
    which source could not be read and why.
    """
