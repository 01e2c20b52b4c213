"""What the worker's TUI tests set up the same way."""

from __future__ import annotations

from pathlib import Path

from fieldapp.store import Store

from ..conftest import COMMUNITY, STREET


def worker_device(path: Path) -> Store:
    """A worker's laptop database at `path`, set up for the test community (open: close it)."""
    store = Store.open(path)
    store.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    return store
