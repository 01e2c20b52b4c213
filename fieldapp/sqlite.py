"""The SQLite driver every module uses: SQLCipher 4 through `sqlcipher3` (a DB-API twin of `sqlite3`).

Import it as `from fieldapp.sqlite import sqlite3`: the name stays, so `sqlite3.Connection`,
`sqlite3.Row` and the exception classes (`sqlite3.DatabaseError`, …) are the driver's own. The
stdlib module's exceptions are different classes and would not catch this driver's errors.
Chosen over apsw-sqlite3mc by measurement (docs/security.md): the same cost per encrypted page,
and no rewrite of the code base's DB-API calls.
"""

from __future__ import annotations

import sqlcipher3.dbapi2 as sqlite3

__all__ = ["sqlite3"]
