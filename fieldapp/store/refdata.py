"""The reference data a database carries: streets, communities with their populations, and the rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fieldapp import db, reference
from fieldapp.store.base import StoreBase


class ReferenceMixin(StoreBase):
    """Reads of the seeded reference tables, and the one write: a district's own community list."""

    def streets(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM ref_street ORDER BY code")]

    def communities(self, street_code: str | None = None) -> list[dict[str, Any]]:
        if street_code:
            rows = self.conn.execute(
                "SELECT * FROM ref_community WHERE street_code = ? ORDER BY code", (street_code,)
            )
        else:
            rows = self.conn.execute("SELECT * FROM ref_community ORDER BY code")
        return [dict(r) for r in rows]

    def import_communities(self, path: Path) -> int:
        """Replace communities and populations with a district's own CSV. A bad line, or a list
        that drops a community still in use, refuses the whole file and changes nothing."""
        street_codes = {r["code"] for r in self.streets()}
        communities = reference.parse_communities(path, street_codes)
        new_codes = {c.code for c in communities}
        used: set[str] = set()
        for kind in ("elder", "meal_point", "volunteer", "volunteer_event"):
            used |= {r[0] for r in self.conn.execute(f"SELECT DISTINCT community_code FROM {kind}")}
        dev = self.device()
        if dev and dev.community_code:
            used.add(dev.community_code)
        dropped = sorted(used - new_codes)
        if dropped:
            raise reference.ReferenceError_(
                path.name,
                None,
                f"新社区表缺少仍在使用的社区代码：{', '.join(dropped)}",
                f"the new list drops community codes still in use: {', '.join(dropped)}",
            )
        with self.transaction():
            db.replace_communities(self.conn, communities)
        self._community_codes = None
        return len(communities)

    def rules(self) -> dict[str, Any]:
        return {
            r["key"]: json.loads(r["value"])
            for r in self.conn.execute("SELECT key, value FROM ref_rule")
        }
