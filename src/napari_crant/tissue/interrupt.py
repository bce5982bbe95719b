"""Stopping a render of the demo's tissue part-way (Qt-free).

Drawing a cutout takes a fraction of a second of numpy calls; the EM child process
(:mod:`napari_crant.qc.em_child`) stops one the review walked past. The renderer calls
:func:`checkpoint` between its steps (every shape of the label field, every synapse's
decorations, between shading stages); inside :func:`interruptible`, a checkpoint calls the
given check, which raises :class:`RenderInterrupted` to abandon the render. Outside it a
checkpoint does nothing. Nothing is cached before a render ends, so an interrupted render
leaves no partial state behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["RenderInterrupted", "checkpoint", "interruptible"]

_CHECK: ContextVar[Callable[[], None] | None] = ContextVar("tissue_render_check", default=None)


class RenderInterrupted(BaseException):
    """A render was abandoned (its result is no longer wanted).

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` on the way turns it
    into an error message.
    """


def checkpoint() -> None:
    """Call the check of the enclosing :func:`interruptible`, if any (it may raise
    :class:`RenderInterrupted`)."""
    check = _CHECK.get()
    if check is not None:
        check()


@contextlib.contextmanager
def interruptible(check: Callable[[], None]) -> Iterator[None]:
    """Within the block, every :func:`checkpoint` calls ``check`` (in this thread or task)."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)
