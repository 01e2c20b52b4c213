"""Helpers for the sync tests: real device databases, real bundles on disk, dumps to compare."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey

from fieldapp import crypto, models
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.bundle import SUFFIX, open_bundle, version_line
from fieldapp.sync.merge import merge_bundle

from ..conftest import CURRENT_TABLES

CURRENT = CURRENT_TABLES


def district(path: Path, *devices: Store | Path) -> Store:
    """A district database that has enrolled `devices` (a device's Store or database file, or a
    bundle file whose device is enrolled by its id: format 1 is accepted only from an enrolled id)."""
    store = Store.open(path)
    store.setup_district()
    for device in devices:
        enrol(store, device)
    return store


def clone_laptop(a: Store, path: Path, tail: str = "beef") -> Store:
    """A second laptop that has what the first one has (as devices do once they share records):
    a copy of `a`'s file with its own device id (ending in `tail`) and no exports yet."""
    a.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(a.conn.execute("PRAGMA database_list").fetchone()[2], path)
    b = Store.open(path)
    b.conn.execute(f"UPDATE device SET device_id = '0193a1b2-7c4d-7e8f-9a0b-0000000{tail:0>5}'")
    b.conn.execute("DELETE FROM exports")
    b.close()
    return Store.open(path)


def enrol(d: Store, device: Store | Path) -> None:
    if isinstance(device, Path) and device.name.endswith(SUFFIX):
        with open_bundle(device, allow_v1=True) as reader:
            m = reader.manifest
        key = m.device_public_key or crypto.new_signing_key()[1]  # format 1 names no key
        d.enroll(m.device_id, key, label=m.device_label, by="测试", communities=[m.community_code])
        return
    s = device if isinstance(device, Store) else Store.open(device)
    dev = s.device()
    assert dev is not None
    communities = [dev.community_code] if dev.community_code else []
    d.enroll(
        dev.device_id, s.keys()["sign_public"], label=dev.label, by="测试", communities=communities
    )
    if s is not device:
        s.close()


def dump_hash(path: Path) -> str:
    """A digest of everything in a database (schema and rows), to prove a refusal changed nothing."""
    conn = sqlite3.connect(path)  # the driver's (SQLCipher's DB-API has no iterdump)
    h = hashlib.sha256()
    h.update(repr(conn.execute("PRAGMA user_version").fetchone()[0]).encode())
    objects = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    for kind, name, sql in objects:
        h.update(f"{kind}|{name}|{sql}\n".encode())
        # db_state's rows are facts about the file itself (its size and time when fieldapp last
        # left or checked it): a copy opened elsewhere records its own, the data is the same
        if kind == "table" and name != "db_state":
            rows = sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{name}"'))
            h.update("\n".join(rows).encode())
    conn.close()
    return h.hexdigest()


def current_tables(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in CURRENT
    }


def open_conflicts(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
    return {
        tuple(r)
        for r in conn.execute(
            "SELECT record_id, version_a, version_b FROM conflicts WHERE status = 'open'"
        )
    }


def open_reviews(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
    return {
        tuple(r)
        for r in conn.execute(
            "SELECT queue, record_a, record_b FROM review_items WHERE status = 'open'"
        )
    }


def rebuild(
    src: Path,
    dst: Path,
    *,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    lines: Callable[[list[str]], list[str]] | None = None,
    fix_digests: bool = True,
    extra_members: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """Copy a bundle with changes: edit the manifest or the lines, keep the digests right or not."""
    with zipfile.ZipFile(src) as zf:
        m = json.loads(zf.read("manifest.json"))
        body = zf.read("versions.ndjson").decode("utf-8")
    text_lines = body.splitlines(keepends=True)
    if lines:
        text_lines = lines(text_lines)
    data = "".join(text_lines).encode("utf-8")
    if fix_digests:
        m["members"]["versions.ndjson"] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "lines": len(text_lines),
        }
    if manifest:
        manifest(m)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if "manifest.json" not in drop:
            zf.writestr("manifest.json", json.dumps(m, ensure_ascii=False))
        if "versions.ndjson" not in drop:
            zf.writestr("versions.ndjson", data)
        for name, content in (extra_members or {}).items():
            zf.writestr(name, content)
    return dst


def edit_payload(line: str, **changes: Any) -> str:
    """A version line with its payload changed and its content_hash recomputed (a valid envelope)."""
    v = json.loads(line)
    v["payload"].update(changes)
    v["content_hash"] = models.content_hash(v["deleted"], v["payload"])
    row = {
        **v,
        "payload": models.canonical_json(v["payload"]),
        "also_parents": json.dumps(v.get("also_parents", [])),
        "payload_schema": v.get("payload_schema", 1),
    }
    return version_line(row)


@dataclass
class World:
    """A district with its key pair and an enrolled device holding the district's public key."""

    device: Store
    district: Store
    db: Path
    key: PrivateKey
    key_file: Path
    tmp: Path

    def merge(self, path: Path) -> Any:
        return merge_bundle(self.district.conn, path, district_key=self.key)

    def refused(self, path: Path, words: str) -> Any:
        """The bundle is refused with `words` in its reason and the database is unchanged."""
        self.district.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = dump_hash(self.db)
        r = self.merge(path)
        assert r.status == "invalid" and words in (r.reason or ""), r.reason
        assert dump_hash(self.db) == before
        return r


PASS = "correct horse battery staple"


def world(demo: Path, tmp: Path) -> World:
    pub, priv, _ = crypto.district_keygen(tmp / "keys", PASS)
    shutil.copy(demo, tmp / "device.db")
    device = Store.open(tmp / "device.db")
    device.install_district_key(*crypto.load_district_public(pub))
    d = district(tmp / "district.db", device)
    return World(
        device, d, tmp / "district.db", crypto.load_district_private(priv, PASS), priv, tmp
    )


def reseal(
    w: World,
    src: Path,
    dst: Path,
    *,
    lines: Callable[[list[bytes]], list[bytes]] | None = None,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    manifest_raw: Callable[[bytes], bytes] | None = None,
) -> Path:
    """A format 2 bundle rebuilt as its enrolled device would write it (sealed to the district,
    signed, every digest right) but with the lines or the manifest changed: what a malicious
    insider holding the laptop can produce."""
    with zipfile.ZipFile(src) as zf:
        m = json.loads(zf.read("manifest.json"))
        sealed = zf.read("versions.sealed")
    plain = b"".join(
        crypto.open_stream(m["encryption"]["sealed_key"], w.key, iter([sealed]), 1 << 30)
    )
    body = plain.splitlines(keepends=True)
    if lines:
        body = lines(body)
    data = b"".join(body)
    m["plain"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "lines": len(body),
    }
    sealed_key, chunks = crypto.seal_stream([data], bytes(w.key.public_key))
    sealed = b"".join(chunks)
    m["encryption"]["sealed_key"] = sealed_key
    m["members"]["versions.sealed"] = {
        "sha256": hashlib.sha256(sealed).hexdigest(),
        "bytes": len(sealed),
    }
    if manifest:
        manifest(m)
    raw = json.dumps(m, ensure_ascii=False).encode()
    if manifest_raw:
        raw = manifest_raw(raw)
    sig = crypto.b64(crypto.sign(w.device.keys()["sign_private"], raw)).encode()
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", raw)
        zf.writestr("manifest.sig", sig)
        zf.writestr("versions.sealed", sealed)
    return dst


def resigned_line(line: bytes, **changes: Any) -> bytes:
    """A version line with envelope fields changed (content_hash still right: only the change counts)."""
    v = json.loads(line)
    v.update(changes)
    parents = v.get("also_parents")
    if parents is not None and not isinstance(
        parents, str
    ):  # stored as JSON text, as the db has it
        parents = json.dumps(parents)
    try:
        row = {**v, "payload": models.canonical_json(v["payload"]), "also_parents": parents}
        return version_line(row).encode()
    except (TypeError, ValueError, KeyError):  # a line an earlier attack mangled: written as it is
        return (json.dumps(v) + "\n").encode()
