"""Group commit (issue 20): bundles merged in groups give the very database the per-bundle merge
gives, report a bundle only once its group is committed, and leave a refused bundle to itself."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from fieldapp import db, kinds
from fieldapp.demo import generate_community
from fieldapp.models import version
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync import apply, merge, settle
from fieldapp.sync.export import export
from fieldapp.sync.merge import BundleResult, merge_bundle, merge_files

from ..conftest import elder_data, make_id
from .helpers import clone_laptop, district, edit_payload, rebuild

TODAY = date(2026, 6, 30)


@dataclass
class Bundles:
    """Bundles of three laptops of one community, with what makes every derived row: concurrent
    edits (conflicts), one person on three laptops (duplicate_person), a move (transfer), two
    counts of one meal slot (meal_slot); and the empty district that enrolled the laptops."""

    files: list[Path]
    empty: Path


def _laptops(root: Path) -> tuple[Store, Store, Store]:
    generate_community(root / "a.db", seed=5, today=TODAY, elders=40)
    a = Store.open(root / "a.db")
    return a, clone_laptop(a, root / "b.db", "beef"), clone_laptop(a, root / "c.db", "cafe")


def _edits(a: Store, b: Store, c: Store) -> None:
    """What the laptops do after they share the same start."""
    elders = [r[0] for r in a.conn.execute("SELECT id FROM elder WHERE deleted = 0 ORDER BY id")]
    for i, rid in enumerate(elders[:6]):  # concurrent edits of the same elders
        a.update("elder", rid, {**a.get("elder", rid).record.payload(), "phone": f"1380000000{i}"})
        b.update("elder", rid, {**b.get("elder", rid).record.payload(), "phone": f"1390000000{i}"})
    dev = a.device()
    assert dev is not None and dev.community_code
    person = elder_data(
        name="重名",
        id_number=make_id(date(1940, 2, 2), False, 9),
        community_code=dev.community_code,
    )
    for s in (a, b, c):
        s.create("elder", person)
    other = a.conn.execute(
        "SELECT code FROM ref_community WHERE code != ? ORDER BY code", (dev.community_code,)
    ).fetchone()[0]
    moved = elders[7]
    today = kinds.today().isoformat()
    c.update(
        "elder",
        moved,
        {**c.get("elder", moved).record.payload(), "status": "moved_out", "status_date": today}
        | {"moved_to": other},
    )
    slot = a.conn.execute(
        "SELECT id, point_id, service_date, meal FROM meal_count WHERE deleted = 0 LIMIT 1"
    ).fetchone()
    for s, n in ((b, 7), (c, 9)):  # both drop the count and write their own: two of one slot
        s.delete("meal_count", slot[0])
        data = {"point_id": slot[1], "service_date": slot[2], "meal": slot[3], "dine_in": n}
        s.create("meal_count", data)
    a.delete("elder", elders[8])


def _second_thoughts(c: Store) -> None:
    """c corrects its duplicate's ID number and takes the move back: items close themselves."""
    rid = c.conn.execute("SELECT id FROM elder WHERE name = '重名'").fetchone()[0]
    fixed = make_id(date(1940, 2, 2), False, 7)
    c.update("elder", rid, {**c.get("elder", rid).record.payload(), "id_number": fixed})
    moved = c.conn.execute("SELECT id FROM elder WHERE status = 'moved_out'").fetchone()[0]
    back = {**c.get("elder", moved).record.payload(), "status": "active", "moved_to": None}
    c.update("elder", moved, back)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    root = tmp_path_factory.mktemp("group")
    a, b, c = _laptops(root)
    files = [export(a, root / "u", allow_v1=True, mkdir=True).path]
    _edits(a, b, c)
    for i, s in enumerate((a, b, c)):
        files.append(export(s, root / f"v{i}", allow_v1=True, mkdir=True).path)
    _second_thoughts(c)
    files.append(export(c, root / "w", allow_v1=True, mkdir=True).path)
    district(root / "empty.db", a, b, c).close()
    for s in (a, b, c):
        s.close()
    return Bundles(files, root / "empty.db")


def _fresh(bundles: Bundles, path: Path) -> Iterator[Store]:
    shutil.copy(bundles.empty, path)
    store = Store.open(path)
    yield store
    store.close()


def normalised_hash(path: Path) -> str:
    """dump_hash (tests/sync/helpers.py) with the clock columns (*_at) read as '-': two merges at
    different moments must otherwise be byte for byte the same database."""
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    objects = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    for kind, name, sql in objects:
        h.update(f"{kind}|{name}|{sql}\n".encode())
        if kind == "table" and name != "db_state":  # facts about the file (as dump_hash)
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
            shown = ", ".join("'-'" if c.endswith("_at") else f'"{c}"' for c in cols)
            rows = sorted(repr(tuple(r)) for r in conn.execute(f'SELECT {shown} FROM "{name}"'))
            h.update("\n".join(rows).encode())
    conn.close()
    return h.hexdigest()


def _one_by_one(bundles: Bundles, path: Path, files: list[Path] | None = None) -> list[str]:
    """Each of `files` (the fixture's by default) merged alone, in order, into a fresh district."""
    store = next(_fresh(bundles, path))
    statuses = [merge_bundle(store.conn, f, allow_v1=True).status for f in files or bundles.files]
    store.close()
    return statuses


def _tampered(bundles: Bundles, tmp_path: Path) -> Path:
    """The third bundle with its last line cut and the manifest left as it was: refused."""
    return rebuild(
        bundles.files[2], tmp_path / "bad.fieldbundle", fix_digests=False, lines=lambda ls: ls[:-1]
    )


@pytest.mark.parametrize("group", [1, 60, 10**9])
def test_groups_give_the_database_of_the_per_bundle_merge(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: int
) -> None:
    assert _one_by_one(bundles, tmp_path / "alone.db") == ["merged"] * 5
    monkeypatch.setattr(merge, "GROUP_VERSIONS", group)
    store = next(_fresh(bundles, tmp_path / "grouped.db"))
    results = merge_files(store.conn, bundles.files, allow_v1=True)
    store.close()
    assert [r.status for r in results] == ["merged"] * 5
    reviews = sqlite3.connect(tmp_path / "grouped.db").execute(
        "SELECT queue, status, count(*) FROM review_items GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert [tuple(r) for r in reviews] == [
        ("duplicate_person", "auto_resolved", 2),
        ("duplicate_person", "open", 1),
        ("meal_slot", "open", 1),
        ("transfer", "auto_resolved", 1),
    ]
    assert normalised_hash(tmp_path / "grouped.db") == normalised_hash(tmp_path / "alone.db")


def test_a_bundle_is_reported_only_once_its_group_is_committed(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection sees each reported bundle: it was committed before it was reported."""
    sizes: list[int] = []

    def seen(r: BundleResult) -> None:
        other = sqlite3.connect(tmp_path / "d.db")
        (n,) = other.execute("SELECT count(*) FROM bundles").fetchone()
        other.close()
        assert r.status == "merged"
        sizes.append(n)

    store = next(_fresh(bundles, tmp_path / "alone.db"))
    new = [merge_bundle(store.conn, f, allow_v1=True).versions for f in bundles.files]
    store.close()
    assert all(new)
    monkeypatch.setattr(merge, "GROUP_VERSIONS", sum(new[:2]) + 1)  # bundle 2 ends a group
    store = next(_fresh(bundles, tmp_path / "d.db"))
    merge_files(store.conn, bundles.files, allow_v1=True, on_result=seen)
    store.close()
    assert sizes == [3, 3, 3, 5, 5]


def test_a_refusal_inside_a_group_is_that_of_the_bundle_alone(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tampered bundle among good ones: refused with the reason the per-bundle merge gives,
    nothing of it kept, the others merged in their groups."""
    bad = _tampered(bundles, tmp_path)
    files = [*bundles.files[:2], bad, bundles.files[3]]
    store = next(_fresh(bundles, tmp_path / "alone.db"))
    expected = merge_bundle(store.conn, bad, allow_v1=True)
    store.close()
    assert expected.status == "invalid"
    monkeypatch.setattr(merge, "GROUP_VERSIONS", 10**9)
    store = next(_fresh(bundles, tmp_path / "d.db"))
    results = merge_files(store.conn, files, allow_v1=True)
    assert [r.status for r in results] == ["merged"] * 2 + ["invalid", "merged"]
    assert results[2].reason == expected.reason
    assert [r.path for r in results] == files
    (n,) = store.conn.execute("SELECT count(*) FROM bundles").fetchone()
    store.close()
    assert n == 3


def test_the_fast_paths_give_the_database_of_the_model_paths(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouped, with the compiled envelope check, orjson and the set-based settling against one
    bundle at a time with every version through the model and every record through lineage and
    the per-record review queries: the same database, review item ids included."""
    store = next(_fresh(bundles, tmp_path / "fast.db"))
    assert [r.status for r in merge_files(store.conn, bundles.files, allow_v1=True)] == [
        "merged"
    ] * 5
    store.close()
    monkeypatch.setattr(version, "fast_version", lambda data, floats=True: None)
    monkeypatch.setattr(settle, "_one_chain", lambda rows, authority: None)
    assert _one_by_one(bundles, tmp_path / "slow.db") == ["merged"] * 5
    assert normalised_hash(tmp_path / "fast.db") == normalised_hash(tmp_path / "slow.db")


def _padded(lines: list[str]) -> list[str]:
    """The first line whose payload names a community, with that code between spaces (the record
    strips them; the stored payload keeps them)."""
    for i, line in enumerate(lines):
        code = json.loads(line)["payload"].get("community_code")
        if code:
            return [*lines[:i], edit_payload(line, community_code=f" {code} "), *lines[i + 1 :]]
    raise AssertionError("no line names a community")


@pytest.mark.parametrize("ahead", [False, True])
def test_settling_takes_a_new_records_versions_as_it_would_read_them(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    """The versions of the records a chunk brings for the first time are handed to settling
    (`apply.first_versions`) instead of read back: they are what reading them back gives, the
    payload's community as stored and the clock flags included, and such a record has neither a
    conflict nor a current row yet. `ahead`: every version's clock is flagged."""
    store = next(_fresh(bundles, tmp_path / "d.db"))
    if ahead:
        store.conn.execute(
            "UPDATE ref_rule SET value = '-1000000000000000' WHERE key = 'hlc_max_ahead_ms'"
        )
        store.conn.commit()
    padded = rebuild(bundles.files[0], tmp_path / "padded.fieldbundle", lines=_padded)
    real = apply.settle_batch
    handed: list[dict[str, list[tuple[object, ...]]]] = []

    def compared(conn: sqlite3.Connection, touched: dict[str, str], *args: object) -> None:
        first = args[-1]
        assert isinstance(first, dict)
        read, with_conflicts = settle._versions_of(conn, list(first))
        by_id = lambda rows: sorted((tuple(r) for r in rows), key=lambda r: str(r[1]))  # noqa: E731
        assert {r: by_id(v) for r, v in read.items()} == {r: by_id(v) for r, v in first.items()}
        assert not with_conflicts & set(first)
        assert settle._current_of(conn, {r: touched[r] for r in first}) == {}
        handed.append(first)
        real(conn, touched, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(apply, "settle_batch", compared)
    files = [padded, *bundles.files[1:]]
    results = merge_files(store.conn, files, allow_v1=True, both_cores=False)
    assert [r.status for r in results] == ["merged"] * 5
    rows = [r for first in handed for rows in first.values() for r in rows]
    assert len(rows) > 100
    assert any(isinstance(r[8], str) and r[8] != r[8].strip() for r in rows)  # the padded code
    assert all(r[9] for r in rows) if ahead else not any(r[9] for r in rows)
    store.close()


def test_a_group_takes_no_savepoint_and_a_refusal_merges_its_earlier_bundles_again(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a SAVEPOINT every page a bundle changed went to a sub-journal first (encrypted, in an
    encrypted file); a group has none, and a refusal rolls the group back and merges its earlier
    bundles again, each reported once."""
    files = [*bundles.files[:2], _tampered(bundles, tmp_path), *bundles.files[3:]]
    monkeypatch.setattr(merge, "GROUP_VERSIONS", 10**9)
    store = next(_fresh(bundles, tmp_path / "d.db"))
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    reported: list[Path] = []
    results = merge_files(
        store.conn, files, allow_v1=True, on_result=lambda r: reported.append(r.path)
    )
    store.conn.set_trace_callback(None)
    store.close()
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert [s.split()[0].upper() for s in statements].count("ROLLBACK") == 1
    assert reported == files
    assert [r.status for r in results] == ["merged", "merged", "invalid", "merged", "merged"]
    assert _one_by_one(bundles, tmp_path / "alone.db", files) == [r.status for r in results]
    assert normalised_hash(tmp_path / "d.db") == normalised_hash(tmp_path / "alone.db")


def test_a_run_of_merges_has_its_settings_and_leaves_the_connection_as_it_was(
    bundles: Bundles, tmp_path: Path
) -> None:
    """A run has few checkpoints and its temporary files on disk, with connect's page cache; the
    caller's connection (the supervisor's screen) gets its own settings back, after a refused
    bundle too."""
    pragmas = ("cache_size", "wal_autocheckpoint", "temp_store", "journal_size_limit")
    store = next(_fresh(bundles, tmp_path / "d.db"))
    before = [store.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas]
    during: list[list[int]] = []

    def seen(r: BundleResult) -> None:
        during.append([store.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas])

    files = [bundles.files[0], _tampered(bundles, tmp_path)]
    results = merge_files(store.conn, files, allow_v1=True, on_result=seen)
    after = [store.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas]
    store.close()
    assert [r.status for r in results] == ["merged", "invalid"]
    # connect's: 32 MiB, SQLite's, MEMORY, and the WAL cut back to 64 MiB when it is reset
    assert before == after == [-db.CACHE_KIB, 1000, 2, db.WAL_SIZE_LIMIT]
    assert during == [[-db.CACHE_KIB, db.MERGE_WAL_AUTOCHECKPOINT, 1, db.WAL_SIZE_LIMIT]] * 2


def test_a_run_of_merges_ends_with_its_wal_in_the_database_file(
    bundles: Bundles, tmp_path: Path
) -> None:
    """The run checkpoints at its end: the database file alone (its WAL left behind) holds every
    merged bundle, as the file of a run merged bundle by bundle does. Without that checkpoint,
    a run smaller than MERGE_WAL_AUTOCHECKPOINT pages would leave all of it in the WAL."""
    store = next(_fresh(bundles, tmp_path / "d.db"))
    results = merge_files(store.conn, bundles.files, allow_v1=True)
    assert all(r.status == "merged" for r in results)
    shutil.copy(tmp_path / "d.db", tmp_path / "file-only.db")  # without d.db-wal
    store.close()
    _one_by_one(bundles, tmp_path / "alone.db")
    conn = sqlite3.connect(tmp_path / "file-only.db")
    assert conn.execute("SELECT count(*) FROM bundles").fetchone()[0] == len(bundles.files)
    conn.close()
    assert normalised_hash(tmp_path / "file-only.db") == normalised_hash(tmp_path / "alone.db")


def test_a_folder_is_merged_month_by_month_then_by_name(tmp_path: Path) -> None:
    """SPEC §5's file names carry the month: a folder's bundles come month by month (a district
    receives them so, and the B-trees of time-ordered keys are written close together), then by
    name; a name without a month comes last, and a file given by name stays where it was given."""
    folder, other = tmp_path / "usb", tmp_path / "mail"
    folder.mkdir()
    other.mkdir()
    for n in [
        "321202001002-2026-02-019adc89-2.fieldbundle",
        "321202001001-2026-02-01aaaaaa-7.fieldbundle",
        "321202001002-2026-01-019adc89-1.fieldbundle",
        "renamed by hand.fieldbundle",
        "321202001001-2025-12-01aaaaaa-6.fieldbundle",
        "321202001001-2026-01-01aaaaaa-9.fieldbundle",
        "notes.txt",
    ]:
        (folder / n).write_bytes(b"")
    (folder / "321202001003-2025-01-sub-1.fieldbundle").mkdir()  # a folder, not a bundle
    alone = other / "321202001009-2025-01-01bbbbbb-1.fieldbundle"
    alone.write_bytes(b"")
    got = [p.name for p in merge.bundle_files([folder, alone])]
    assert got == [
        "321202001001-2025-12-01aaaaaa-6.fieldbundle",
        "321202001001-2026-01-01aaaaaa-9.fieldbundle",
        "321202001002-2026-01-019adc89-1.fieldbundle",
        "321202001001-2026-02-01aaaaaa-7.fieldbundle",
        "321202001002-2026-02-019adc89-2.fieldbundle",
        "renamed by hand.fieldbundle",
        alone.name,
    ]
