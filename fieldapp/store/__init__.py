"""Typed reads and writes of one database: every save is one version plus the current row, in one transaction.

`Store` is put together from one part per responsibility; look for a method in:

- base.py     the connection, the transaction, the clock, this device's row;
- device.py   setup as a device or the district, its keys, enrol and revoke;
- records.py  create / update / delete, get, page, count, history;
- queries.py  the worker's due list, dashboard and elder search;
- refdata.py  streets, communities, rules;
- rows.py     a record's current-table row (the saves and the district's merge both write it);
- checks.py   the save rules that look at another record or at today (SPEC §3 v2, device only);
- district.py district_version: a district decision written as a version (SPEC §4 v2);
- errors.py   StoreError and its kinds.
"""

from __future__ import annotations

from fieldapp.store.base import Device
from fieldapp.store.device import DeviceMixin
from fieldapp.store.district import district_version
from fieldapp.store.errors import NotFound, StaleEdit, StoreError
from fieldapp.store.queries import DueItem, QueriesMixin
from fieldapp.store.records import KINDS, Current, RecordsMixin, Saved, VersionRow
from fieldapp.store.refdata import ReferenceMixin
from fieldapp.store.rows import current_row, write_current, write_current_many

__all__ = [
    "KINDS",
    "Current",
    "Device",
    "DueItem",
    "NotFound",
    "Saved",
    "StaleEdit",
    "Store",
    "StoreError",
    "VersionRow",
    "current_row",
    "district_version",
    "write_current",
    "write_current_many",
]


class Store(DeviceMixin, RecordsMixin, QueriesMixin, ReferenceMixin):
    """One open database. Not thread-safe: open one Store per thread (SQLite connections are not shared)."""
