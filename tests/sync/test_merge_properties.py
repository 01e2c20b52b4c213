"""Merging is order-independent, idempotent and split-independent (SPEC §6), tested with hypothesis.

Three honest devices and a malicious one make version histories — creates, edits, deletes,
concurrent edits of one record once devices share records, resolutions (also_parents), clock jumps
both ways, and from the malicious laptop edits that move another community's records to its own,
forged future clocks and versions of a community it may not write — which are cut into real bundle
files and merged in different orders, with duplicates and full re-exports, into real district
databases. Every order gives the same tables, and the winners are those `lineage.settle` gives.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fieldapp import crypto, hlc, lineage, models
from fieldapp.store import Store
from fieldapp.sync.bundle import version_line, write_bundle
from fieldapp.sync.merge import merge_bundle

from ..conftest import scaled
from .helpers import current_tables, district, open_conflicts, open_reviews

DEVICES = [f"0193a1b{i}-7c4d-7e8f-9a0b-00000000d00{i}" for i in range(4)]
HONEST = 3  # devices 0-2 are enrolled for COMMUNITY; device 3 is a malicious laptop of OTHER
COMMUNITY = "321202001901"
OTHER = "321202001902"
BASE_MS = 1_780_000_000_000
NOW_MS = BASE_MS + 43_200_000  # the district's clock when it merges: flags are deterministic
MAX_AHEAD_MS = 86_400_000  # seed/rules.json hlc_max_ahead_ms
FORGED = "9999999999999-99999"
NAMES = ["李敏", "王芳", "张伟", "刘洋"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "district.db"
    store = district(path)
    for i, device in enumerate(DEVICES):
        store.enroll(
            device,
            crypto.new_signing_key()[1],
            label=f"设备{i}",
            by="测试",
            communities=[COMMUNITY if i < HONEST else OTHER],
        )
    store.close()
    return path


def _settled(versions: list[dict[str, Any]], *, flags: bool = False) -> lineage.Settled:
    """SPEC §4/§4a over these versions (a device sees no flags; the district flags clocks more
    than a day ahead of NOW_MS)."""
    return lineage.settle(
        [
            lineage.Node(
                version_id=v["version_id"],
                parent=v["parent_version_id"],
                hlc=v["hlc"],
                device_id=v["device_id"],
                also_parents=tuple(v["also_parents"]),
                community=v["payload"]["community_code"],
                flagged=flags and int(v["hlc"][:13]) > NOW_MS + MAX_AHEAD_MS,
            )
            for v in versions
        ]
    )


class _Devices:
    """Three honest laptops and a malicious one making versions, each with its own view."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.walls = [BASE_MS + i * 1000 for i in range(4)]
        self.clocks = [hlc.Clock(now=lambda i=i: self.walls[i]) for i in range(4)]
        self.known: list[dict[str, list[dict[str, Any]]]] = [{}, {}, {}, {}]
        self.own: dict[str, list[dict[str, Any]]] = {d: [] for d in DEVICES}
        self.counter = 0

    def make(
        self, i: int, record_id: str, parent: str | None, payload: dict[str, Any], **kw: Any
    ) -> None:
        self.counter += 1
        self.walls[i] += self.draw(st.integers(1, 60_000))
        stamp = kw.get("stamp") or self.clocks[i].tick()
        deleted = kw.get("deleted", False)
        v = {
            "kind": "volunteer",
            "record_id": record_id,
            "version_id": f"0193a1b2-8000-7000-8000-{self.counter:012x}",
            "parent_version_id": parent,
            "also_parents": list(kw.get("also", ())),
            "hlc": stamp,
            "device_id": DEVICES[i],
            "deleted": deleted,
            "content_hash": models.content_hash(deleted, payload),
            "payload": payload,
        }
        self.own[DEVICES[i]].append(v)
        self.known[i].setdefault(record_id, []).append(v)

    def live(self, i: int) -> list[tuple[str, dict[str, Any]]]:
        """(record id, the winning version) of the records this laptop sees as not deleted."""
        out = []
        for rid, vs in sorted(self.known[i].items()):
            w = _settled(vs).winner
            top = next(v for v in vs if v["version_id"] == w) if w else None
            if top is not None and not top["deleted"]:
                out.append((rid, top))
        return out

    def create(self, i: int) -> None:
        self.counter += 1
        payload = models.validate_record(
            "volunteer",
            {
                "name": self.draw(st.sampled_from(NAMES)),
                "community_code": COMMUNITY if i < HONEST else OTHER,
            },
            schema=2,
        ).payload()
        self.make(i, f"0193a1b2-9000-7000-8000-{self.counter:012x}", None, payload)

    def edit(self, i: int, op: str) -> None:
        live = self.live(i)
        if not live:
            return self.create(i)
        rid, top = self.draw(st.sampled_from(live))
        payload = dict(top["payload"])
        payload["name"] = self.draw(st.sampled_from(NAMES)) + str(self.draw(st.integers(0, 9)))
        if op == "hijack":  # the malicious laptop moves someone else's record to its community
            payload["community_code"] = OTHER
        elif op == "cross":  # ... or writes one of another community: its bundle is refused
            payload["community_code"] = COMMUNITY
        stamp = FORGED if op == "forge" else None
        if op == "forge" and self.draw(st.booleans()):
            stamp = hlc.fmt(self.walls[i] + 3 * MAX_AHEAD_MS, 0)
        self.make(i, rid, top["version_id"], payload, deleted=op == "delete", stamp=stamp)
        return None

    def resolve(self, i: int) -> None:
        """A resolution: one version superseding every head this laptop sees of one record."""
        split = [(rid, _settled(vs)) for rid, vs in sorted(self.known[i].items())]
        split = [(rid, s) for rid, s in split if len(s.heads) > 1]
        if not split:
            return self.fork(i)
        rid, s = self.draw(st.sampled_from(split))
        top = next(v for v in self.known[i][rid] if v["version_id"] == s.winner)
        payload = {**top["payload"], "name": self.draw(st.sampled_from(NAMES)) + "合"}
        self.make(i, rid, s.heads[0], payload, also=s.heads[1:])
        return None

    def fork(self, i: int) -> None:
        """Another laptop edits one of this laptop's records concurrently, and this one sees it."""
        live = self.live(i)
        if not live:
            return self.create(i)
        k = (i + 1) % HONEST if i < HONEST else 0
        self.share(k, i)
        rid, top = self.draw(st.sampled_from(live))
        for who in (k, i):
            payload = {**top["payload"], "name": self.draw(st.sampled_from(NAMES)) + str(who)}
            self.make(who, rid, top["version_id"], payload)
        self.share(i, k)
        return None

    def share(self, i: int, j: int) -> None:
        for rid, vs in self.known[j].items():
            mine = self.known[i].setdefault(rid, [])
            ids = {v["version_id"] for v in mine}
            mine.extend(v for v in vs if v["version_id"] not in ids)
            for v in vs:
                self.clocks[i].observe(v["hlc"])  # a forged stamp is kept but never adopted


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Per device, the versions it made (in order); and every version."""
    d = _Devices(draw)
    for _ in range(draw(st.integers(1, 30))):
        i = draw(st.integers(0, 3))
        ops = ["create", "edit", "edit", "delete", "share", "share", "jump", "resolve", "resolve"]
        if i == HONEST:
            ops = ["create", "share", "share", "hijack", "hijack", "forge", "forge", "cross"]
        op = draw(st.sampled_from(ops))
        if op == "create":
            d.create(i)
        elif op == "resolve":
            d.resolve(i)
        elif op == "share":
            d.share(i, draw(st.integers(0, 3)))
        elif op == "jump":  # the laptop's clock is set back or forward, up to two days
            d.walls[i] = max(0, d.walls[i] + draw(st.integers(-2 * 86_400_000, 2 * 86_400_000)))
        else:
            d.edit(i, op)
    every = [v for vs in d.own.values() for v in vs]
    return d.own, every


def _write(out: Path, device: str, seq: int, versions: list[dict[str, Any]]) -> Path:
    fields = {
        "bundle_id": f"0193a1b2-a000-7000-8000-{DEVICES.index(device):04x}{seq:08x}",
        "device_id": device,
        "device_label": "测试",
        "worker": "测试",
        "street_code": "321202001",
        "community_code": COMMUNITY if DEVICES.index(device) < HONEST else OTHER,
        "period": "2026-06",
        "created_at": "2026-06-30T17:00:00+08:00",
        "seq": seq,
        "prev_bundle_id": None,
        "app_version": "test",
    }
    lines = (
        (
            v["kind"],
            v["hlc"],
            version_line(
                {
                    **v,
                    "payload": models.canonical_json(v["payload"]),
                    "also_parents": json.dumps(v["also_parents"]),
                    "payload_schema": 2,
                }
            ),
        )
        for v in versions
    )
    return write_bundle(out, fields, lines).path


def _refused(versions: list[dict[str, Any]]) -> bool:
    """A bundle with a version outside its device's community is refused whole (SPEC §4a)."""
    return any(
        v["payload"]["community_code"]
        != (COMMUNITY if DEVICES.index(v["device_id"]) < HONEST else OTHER)
        for v in versions
    )


def _cut(
    data: st.DataObject, out: Path, own: dict[str, list[dict[str, Any]]]
) -> dict[Path, list[dict[str, Any]]]:
    """Each device's versions cut into bundles, sometimes with a full re-export as well."""
    bundles: dict[Path, list[dict[str, Any]]] = {}
    for device, versions in own.items():
        if not versions:
            continue
        cuts = sorted(
            set(data.draw(st.lists(st.integers(1, len(versions)), max_size=3))) | {len(versions)}
        )
        start, seq = 0, 0
        for cut in cuts:
            if cut > start:
                seq += 1
                bundles[_write(out, device, seq, versions[start:cut])] = versions[start:cut]
                start = cut
        if data.draw(st.booleans()):  # a full re-export as well
            bundles[_write(out, device, seq + 1, versions)] = versions
    return bundles


def _merge_all(
    template: Path, path: Path, order: list[Path], bundles: dict[Path, list[dict[str, Any]]]
) -> tuple[Any, ...]:
    shutil.copy(template, path)  # a fresh district database (schema, seed, enrolments)
    store = Store.open(path)
    for b in order:
        r = merge_bundle(store.conn, b, allow_v1=True, now_ms=NOW_MS)
        if _refused(bundles[b]):
            assert r.status == "invalid" and "整个同步包未合并" in (r.reason or ""), r.reason
        else:
            assert r.status in ("merged", "already"), r.reason
    result = (
        current_tables(store.conn),
        open_conflicts(store.conn),
        open_reviews(store.conn),
        store.conn.execute("SELECT count(*) FROM versions").fetchone()[0],
    )
    store.close()
    return result


@settings(
    max_examples=scaled(200),  # FIELDAPP_TEST_SCALE (tests/conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), history=histories())
def test_any_order_duplicates_and_re_exports_give_the_same_result(
    template: Path, data: st.DataObject, history: Any
) -> None:
    own, _ = history
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        bundles = _cut(data, out, own)
        paths = list(bundles)
        order_a = data.draw(st.permutations(paths))
        extra = data.draw(st.lists(st.sampled_from(paths), max_size=3)) if paths else []
        order_b = data.draw(st.permutations(paths + extra))
        results = [
            _merge_all(template, out / f"{name}.db", order, bundles)
            for name, order in (("a", order_a), ("b", order_b))
        ]
    assert results[0] == results[1]
    # the versions that arrived: those of every bundle not refused
    arrived = {v["version_id"]: v for b, vs in bundles.items() if not _refused(vs) for v in vs}
    _assert_lineage(results[0], list(arrived.values()))


def _assert_lineage(result: tuple[Any, ...], arrived: list[dict[str, Any]]) -> None:
    """The current rows, conflicts and community_change items are those lineage gives."""
    tables, conflicts, reviews, n_versions = result
    by_record: dict[str, list[dict[str, Any]]] = {}
    for v in arrived:
        by_record.setdefault(v["record_id"], []).append(v)
    rows = {r[0]: r for r in tables["volunteer"]}
    settled = {rid: _settled(vs, flags=True) for rid, vs in by_record.items()}
    assert set(rows) == {rid for rid, s in settled.items() if s.winner}
    for rid, s in settled.items():
        if s.winner is None:
            continue
        w = next(v for v in by_record[rid] if v["version_id"] == s.winner)
        assert rows[rid][1] == w["version_id"] and bool(rows[rid][4]) == w["deleted"]
        assert w["payload"]["name"] == rows[rid][5]
    assert n_versions == len(arrived)
    assert {c[0] for c in conflicts} == {rid for rid, s in settled.items() if len(s.heads) > 1}
    changes = {
        ("community_change", rid, vid)
        for rid, s in settled.items()
        for vid, why in s.ineligible.items()
        if why == lineage.COMMUNITY_CHANGE
    }
    assert {r for r in reviews if r[0] == "community_change"} == changes
    event(f"open conflicts: {'yes' if conflicts else 'no'}")
    event(f"community changes: {'yes' if changes else 'no'}")
    event(f"resolutions: {'yes' if any(v['also_parents'] for v in arrived) else 'no'}")
    event(
        f"flagged: {'yes' if any(int(v['hlc'][:13]) > NOW_MS + MAX_AHEAD_MS for v in arrived) else 'no'}"
    )


_IDS = st.sampled_from(["v1", "v2", "d0", "d1"])


@settings(max_examples=scaled(300), deadline=None)
@given(
    st.tuples(
        st.just("r"),  # record_id
        _IDS,  # version_id
        st.none() | _IDS,  # parent_version_id
        st.just("1766911620001-00000"),  # hlc
        st.sampled_from(["d0", "d1"]),  # device_id
        st.sampled_from([0, 1]),  # deleted
        st.sampled_from(["[]", '["v2"]']),  # also_parents
        st.sampled_from([1, 2]),  # payload_schema
        st.none() | st.sampled_from(["321202001001", " 321202001001", "321202001002"]),
        st.sampled_from([0, 1]),  # an unaccepted clock flag
    ),
    st.none() | st.sampled_from(["d0", "d1"]),
)
def test_a_first_versions_quick_settling_is_that_of_the_chain_walk(
    row: tuple[Any, ...], district_id: str | None
) -> None:
    """settle._one_chain takes a record's only version without the walk: the same head (or None,
    lineage deciding) as the walk (`_chain`) for any such row."""
    from fieldapp.sync.settle import Authority, _chain, _one_chain

    authority = Authority(district_id, {"d0": "321202001001", "d1": None})
    assert _one_chain([row], authority) == _chain([row], authority)
