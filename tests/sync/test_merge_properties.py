"""Merging is order-independent, idempotent and split-independent (SPEC §6), tested with hypothesis.

Three devices make version histories — creates, edits, deletes, concurrent edits of one record
once devices share records, clock jumps both ways — which are cut into real bundle files and
merged in different orders, with duplicates and full re-exports, into real district databases.
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

from fieldapp import crypto, hlc, models
from fieldapp.store import Store
from fieldapp.sync.bundle import version_line, write_bundle
from fieldapp.sync.merge import merge_bundle

from ..conftest import scaled
from .helpers import current_tables, district, open_conflicts

DEVICES = [f"0193a1b{i}-7c4d-7e8f-9a0b-00000000d00{i}" for i in range(3)]
COMMUNITY = "321202001901"
BASE_MS = 1_780_000_000_000
NAMES = ["李敏", "王芳", "张伟", "刘洋"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "district.db"
    d = district(path)
    for device in DEVICES:  # format 1 is accepted only from an enrolled device id
        d.enroll(device, crypto.new_signing_key()[1], label=device[:8], by="测试")
    d.close()
    return path


def _winner(versions: list[dict[str, Any]]) -> dict[str, Any]:
    parents = {v["parent_version_id"] for v in versions if v["parent_version_id"]}
    heads = [v for v in versions if v["version_id"] not in parents]
    return max(heads, key=lambda v: (v["hlc"], v["device_id"], v["version_id"]))


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Per device, the versions it made (in order); and every version."""
    walls = [BASE_MS + i * 1000 for i in range(3)]
    clocks = [hlc.Clock(now=lambda i=i: walls[i]) for i in range(3)]
    known: list[dict[str, list[dict[str, Any]]]] = [{}, {}, {}]
    own: dict[str, list[dict[str, Any]]] = {d: [] for d in DEVICES}
    counter = [0]

    def make(
        i: int, record_id: str, parent: str | None, deleted: bool, payload: dict[str, Any]
    ) -> None:
        counter[0] += 1
        walls[i] += draw(st.integers(1, 60_000))
        stamp = clocks[i].tick()
        v = {
            "kind": "volunteer",
            "record_id": record_id,
            "version_id": f"0193a1b2-8000-7000-8000-{counter[0]:012x}",
            "parent_version_id": parent,
            "hlc": stamp,
            "device_id": DEVICES[i],
            "deleted": deleted,
            "content_hash": models.content_hash(deleted, payload),
            "payload": payload,
        }
        own[DEVICES[i]].append(v)
        known[i].setdefault(record_id, []).append(v)

    for _ in range(draw(st.integers(1, 25))):
        i = draw(st.integers(0, 2))
        op = draw(
            st.sampled_from(["create", "edit", "edit", "edit", "delete", "share", "share", "jump"])
        )
        live = [rid for rid, vs in known[i].items() if not _winner(vs)["deleted"]]
        if op == "create" or (op in ("edit", "delete") and not live):
            counter[0] += 1
            payload = models.validate_record(
                "volunteer", {"name": draw(st.sampled_from(NAMES)), "community_code": COMMUNITY}
            ).payload()
            make(i, f"0193a1b2-9000-7000-8000-{counter[0]:012x}", None, False, payload)
        elif op in ("edit", "delete"):
            rid = draw(st.sampled_from(sorted(live)))
            top = _winner(known[i][rid])
            payload = dict(top["payload"])
            if op == "edit":
                payload["name"] = draw(st.sampled_from(NAMES)) + str(draw(st.integers(0, 9)))
            make(i, rid, top["version_id"], op == "delete", payload)
        elif op == "share":
            j = draw(st.integers(0, 2))
            for rid, vs in known[j].items():
                mine = known[i].setdefault(rid, [])
                ids = {v["version_id"] for v in mine}
                mine.extend(v for v in vs if v["version_id"] not in ids)
                for v in vs:
                    clocks[i].observe(v["hlc"])
        else:  # the laptop's clock is set back or forward, up to two days
            walls[i] = max(0, walls[i] + draw(st.integers(-2 * 86_400_000, 2 * 86_400_000)))
    every = [v for vs in own.values() for v in vs]
    return own, every


def _write(out: Path, device: str, seq: int, versions: list[dict[str, Any]]) -> Path:
    fields = {
        "bundle_id": f"0193a1b2-a000-7000-8000-{DEVICES.index(device):04x}{seq:08x}",
        "device_id": device,
        "device_label": "测试",
        "worker": "测试",
        "street_code": "321202001",
        "community_code": COMMUNITY,
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
                    "also_parents": "[]",
                    "payload_schema": 1,
                }
            ),
        )
        for v in versions
    )
    return write_bundle(out, fields, lines).path


@settings(
    max_examples=scaled(200),  # FIELDAPP_TEST_SCALE (tests/conftest.py)
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), history=histories())
def test_any_order_duplicates_and_re_exports_give_the_same_result(
    template: Path, data: st.DataObject, history: Any
) -> None:
    own, every = history
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        bundles: list[Path] = []
        for device, versions in own.items():
            if not versions:
                continue
            cuts = sorted(
                set(data.draw(st.lists(st.integers(1, len(versions)), max_size=3)))
                | {len(versions)}
            )
            start, seq = 0, 0
            for cut in cuts:
                if cut > start:
                    seq += 1
                    bundles.append(_write(out, device, seq, versions[start:cut]))
                    start = cut
            if data.draw(st.booleans()):  # a full re-export as well
                bundles.append(_write(out, device, seq + 1, versions))
        order_a = data.draw(st.permutations(bundles))
        order_b = data.draw(
            st.permutations(
                bundles + data.draw(st.lists(st.sampled_from(bundles), max_size=3))
                if bundles
                else []
            )
        )
        results = []
        for name, order in (("a", order_a), ("b", order_b)):
            path = out / f"{name}.db"
            shutil.copy(template, path)  # a fresh district database (schema, seed, district row)
            store = Store.open(path)
            for b in order:
                r = merge_bundle(store.conn, b, allow_v1=True)
                assert r.status in ("merged", "already"), r.reason
            results.append(
                (
                    current_tables(store.conn),
                    open_conflicts(store.conn),
                    store.conn.execute("SELECT count(*) FROM versions").fetchone()[0],
                )
            )
            store.close()
        assert results[0] == results[1]
        event(f"open conflicts: {'yes' if results[0][1] else 'no'}")
        event(f"bundles: {'>4' if len(bundles) > 4 else len(bundles)}")
        # and the winners are those of SPEC §4 computed here from the union of the versions
        by_record: dict[str, list[dict[str, Any]]] = {}
        for v in every:
            by_record.setdefault(v["record_id"], []).append(v)
        rows = {r[0]: r for r in results[0][0]["volunteer"]}
        assert set(rows) == set(by_record)
        for rid, vs in by_record.items():
            w = _winner(vs)
            assert rows[rid][1] == w["version_id"] and bool(rows[rid][4]) == w["deleted"]
            assert json.loads(json.dumps(w["payload"]))["name"] == rows[rid][5]
        assert results[0][2] == len(every)
        heads_per_record = {
            rid: len([v for v in vs if v["version_id"] not in {x["parent_version_id"] for x in vs}])
            for rid, vs in by_record.items()
        }
        assert {c[0] for c in results[0][1]} == {
            rid for rid, n in heads_per_record.items() if n > 1
        }
