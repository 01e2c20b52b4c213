"""The start-up's objects out of the garbage collector's way (issue 20: start-up).

When the app object exists, the collector tracks some 38,000 objects that live as long as the
app (Textual's and our modules, classes, CSS, the store; none of them garbage: a collection
at that point frees nothing). The first screen's allocations then set off a full collection,
which walks them and all the screen made (45–50 ms here, while the worker waits); the interpreter's
exit walks them once more. `gc.freeze()` moves every object tracked now to a permanent
generation that no collection walks; what is made later is collected as before. Once per
process: a test process builds many apps, and what an earlier one left behind would be kept.
"""

from __future__ import annotations

import gc


def freeze_startup() -> None:
    """Keep every object alive now out of later collections (the first call only: the permanent
    generation is empty until then)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
