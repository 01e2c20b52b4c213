"""Office sync (SPEC §5b): laptops of one community exchange their bundles directly.

`fieldapp export --for-colleagues` seals the bundle's stream key to the district and also to the
community's other enrolled laptops, whose keys arrived in return bundles; the district still merges
the very same file. A colleague's `fieldapp import` checks the signature against the enrolled key
list this laptop holds, opens the stream with its own key and applies the versions with the same
engine as a return bundle (origin: the bundle, so they are never exported again from here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from fieldapp import crypto, hlc, models
from fieldapp.kinds import now_iso
from fieldapp.store import Store, StoreError
from fieldapp.sync.bundle_check import LineInvalid, Tally, check_line, check_signer, line_context
from fieldapp.sync.bundle_format import MAX_VERSIONS_BYTES, BundleError, file_sha256, load_json
from fieldapp.sync.bundle_read import (
    BundleReader,
    Line,
    _open_zip,
    _parse_lines,
    _read_manifest,
    open_bundle,
)
from fieldapp.sync.return_read import ImportResult, _Apply, _refuse, import_return
from fieldapp.text import clean


def _enrolled(store: Store) -> dict[str, tuple[str, str | None, list[str]]]:
    """The laptops the district enrolled, as its return bundles told: key, revoked_at, communities."""
    out = {}
    for device_id, public_key, revoked_at, communities in store.conn.execute(
        "SELECT device_id, public_key, revoked_at, communities FROM enrolled_devices"
    ):
        try:
            codes = [str(c) for c in json.loads(communities)]
        except (ValueError, TypeError):
            codes = []
        out[device_id] = (public_key, revoked_at, codes)
    return out


def colleagues(store: Store) -> tuple[tuple[str, bytes], ...]:
    """(device_id, X25519 public key) of this community's other enrolled, unrevoked laptops."""
    dev = store.device()
    assert dev is not None
    found = tuple(
        (device_id, crypto.device_box_public(key))
        for device_id, (key, revoked_at, codes) in sorted(_enrolled(store).items())
        if device_id != dev.device_id and revoked_at is None and dev.community_code in codes
    )
    if not found:
        raise StoreError(
            "本机还没有同事设备的公钥：请先导入区里的回传包（其中带有本社区已登记设备的公钥）",
            "no colleague's key on this laptop yet: import a return bundle from the district first",
        )
    return found


def direction(path: Path) -> str | None:
    """The manifest's `direction` ('return' for the district's bundles), read within the caps;
    None for a laptop's bundle or a file that is not a bundle (its import then says why)."""
    try:
        zf = _open_zip(path)
    except BundleError:
        return None
    try:
        infos = {i.filename: i for i in zf.infolist()}
        if "manifest.json" not in infos:
            return None
        raw, _ = _read_manifest(zf, infos)
        data = load_json(raw, "manifest.json", "manifest.json")
    except BundleError:
        return None
    finally:
        zf.close()
    value = data.get("direction") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def import_any(store: Store, path: Path) -> ImportResult:
    """A return bundle from the district, or a colleague's office-sync bundle."""
    if direction(path) == "return":
        return import_return(store, path)
    return import_colleague(store, path)


def import_colleague(store: Store, path: Path) -> ImportResult:
    """Apply a colleague's bundle on this laptop: all of it, or nothing and the reason."""
    result = ImportResult(path, "refused")
    try:
        _import(store, path, result)
    except BundleError as e:
        result.reason = str(e)
    except Exception as e:  # the last net: a file never ends in a traceback (BRIEF)
        result.reason = str(
            _refuse(
                f"无法处理此文件（{type(e).__name__}）：{clean(e, 120)}",
                f"this file cannot be processed ({type(e).__name__}): {clean(e, 120)}",
            )
        )
    if not result.ok:
        result.kinds, result.versions_new = {}, 0
    return result


def _check(store: Store, reader: BundleReader) -> str:
    """Whose bundle this is and whether it was sealed to this laptop; returns this laptop's id."""
    dev = store.device()
    if dev is None or dev.role != "device":
        raise _refuse(
            "本机尚未设置为设备（fieldapp init）", "not a laptop's database (fieldapp init)"
        )
    m = reader.manifest
    if reader.version != 2 or m.encryption is None:
        raise _refuse("只接受加密的 v2 同步包", "only a sealed format 2 bundle can be imported")
    enrolled = _enrolled(store)
    check_signer(reader, {k: (v[0], v[1]) for k, v in enrolled.items()})
    if m.device_id == dev.device_id:
        raise _refuse("这是本机自己导出的同步包", "this is this laptop's own bundle")
    codes = enrolled[m.device_id][2]
    if m.community_code != dev.community_code or dev.community_code not in codes:
        raise _refuse(
            f"这是社区 {m.community_code} 的同步包，本机属于社区 {dev.community_code}",
            f"this bundle is from community {m.community_code}; this laptop serves {dev.community_code}",
        )
    if dev.device_id not in (m.encryption.colleagues or {}):
        raise _refuse(
            "该同步包没有加密给本机（同事导出时须勾选“也给同事”，且已导入含本机公钥的回传包）",
            "the bundle is not sealed to this laptop (exported --for-colleagues after a return bundle"
            " that names this laptop)",
        )
    return dev.device_id


def _lines(store: Store, reader: BundleReader, me: str) -> Iterator[Line]:
    m = reader.manifest
    assert m.encryption is not None and m.encryption.colleagues is not None and m.plain is not None
    reader.check_sealed()
    cipher = reader._member_chunks(m.members["versions.sealed"], "versions.sealed")
    try:
        plain = crypto.open_stream(
            m.encryption.colleagues[me],
            crypto.device_box_private(store.keys()["sign_private"]),
            cipher,
            min(m.plain.bytes, MAX_VERSIONS_BYTES),
        )
        yield from _parse_lines(plain, m.plain, "versions.ndjson", {})
    except crypto.KeyError_ as e:
        raise _refuse(e.zh, e.en) from None


def _import(store: Store, path: Path, result: ImportResult) -> None:
    with open_bundle(path) as reader:
        me = _check(store, reader)
        m = reader.manifest
        result.bundle_id, result.seq = m.bundle_id, m.seq
        applied = "SELECT 1 FROM applied_returns WHERE bundle_id = ?"
        if store.conn.execute(applied, (m.bundle_id,)).fetchone():
            result.status = "already"
            return
        context = line_context(m)
        with store.transaction():
            job = _Apply(store.conn, m.bundle_id, m.created_at, result)
            tally = Tally(m, {})
            items: list[tuple[int, models.Version, models.Record, str | None]] = []
            line: Line
            for line in _lines(store, reader, me):
                try:
                    version, record = check_line(line, m.device_id, context)
                except LineInvalid as e:
                    raise _refuse(e.zh, e.en) from None
                tally.add(line.no, version.kind, version.hlc)
                items.append((line.no, version, record, None))
                if len(items) >= 2000:
                    job.chunk(items)
                    items = []
            if items:
                job.chunk(items)
            tally.finish()
            result.versions = sum(tally.counts.values())
            clock = hlc.Clock(store.conn.execute("SELECT hlc_last FROM device").fetchone()[0])
            if clock.observe(job.top_hlc):  # never more than a day ahead of this laptop's clock
                store.conn.execute("UPDATE device SET hlc_last = ?", (clock.last,))
            store.conn.execute(
                "INSERT INTO applied_returns (bundle_id, source, community_code, seq, created_at,"
                " file_sha256, applied_at, versions_new, acks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')",
                (
                    m.bundle_id,
                    m.device_id,
                    m.community_code,
                    m.seq,
                    m.created_at,
                    file_sha256(path),
                    now_iso(),
                    result.versions_new,
                ),
            )
        result.status = "applied"
