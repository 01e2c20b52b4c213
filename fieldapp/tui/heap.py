"""The start-up's objects out of the garbage collector's way (issue 20: start-up).

When the app object exists, the interpreter holds a few hundred thousand objects that live as
long as the app: Textual's and our modules, classes, CSS, the store. A full collection walks
all of them, about 50 ms on this machine, and the allocation of the first screen triggers one
while the worker waits for it. `gc.freeze()` (Python's own remedy, the one documented for
long-lived objects) moves them to a generation no collection walks; garbage made later is
collected as before. Once per process: a test process builds many apps, and what a later app
leaves would otherwise be kept for good.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup() -> None:
    """Keep every object alive now out of later collections (the first call only)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
