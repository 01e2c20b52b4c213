"""Random bytes, random JSON and mutated real bundles fed to verify and the merge: never an exception,
the district database unchanged unless the bundle merged, and a good bundle still merges afterwards.

FIELDAPP_FUZZ_EXAMPLES sets the number of examples (500 in CI)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.demo import generate_community
from fieldapp.models.version import has_float
from fieldapp.store import Store
from fieldapp.sync import bundle_format
from fieldapp.sync.bundle import verify
from fieldapp.sync.bundle_format import BundleError, load_json
from fieldapp.sync.export import export
from fieldapp.sync.merge import bundle_status, merge_files

from .helpers import World, dump_hash, reseal, resigned_line, world

EXAMPLES = int(os.environ.get("FIELDAPP_FUZZ_EXAMPLES", "500"))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path, Path, Path, str]:
    """An enrolled device's good bundle, a second good one, and a pristine district database."""
    os.environ["FIELDAPP_KDF"] = "interactive"
    tmp = tmp_path_factory.mktemp("fuzz")
    generate_community(tmp / "demo.db", seed=21, today=date(2026, 6, 30), elders=3)
    w = world(tmp / "demo.db", tmp)
    cut = w.device.conn.execute(
        "SELECT hlc FROM versions ORDER BY seq LIMIT 1 OFFSET 20"
    ).fetchone()[0]
    first = export(w.device, tmp / "usb", allow_v1=False, until_hlc=cut, mkdir=True).path
    second = export(w.device, tmp / "usb", allow_v1=False, mkdir=True).path
    w.district.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    w.district.close()
    shutil.copy(w.db, tmp / "pristine.db")
    return w, first, second, tmp / "pristine.db", dump_hash(tmp / "pristine.db")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

LINE_ATTACKS = [
    lambda v, d: {**v, "x": json.loads("[" * 30 + "]" * 30)},
    lambda v, d: {**v, "payload": d.draw(json_values)},
    lambda v, d: {**v, "record_id": d.draw(st.text(max_size=50))},
    lambda v, d: {**v, "hlc": d.draw(st.text(max_size=30))},
    lambda v, d: {**v, "parent_version_id": v["version_id"]},
    lambda v, d: {**v, "also_parents": ["x"] * d.draw(st.integers(0, 40))},
    lambda v, d: {**v, d.draw(st.sampled_from(sorted(v))): d.draw(json_values)},
]


def _raw_line(data: Any) -> bytes:
    return {
        "nest": b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}\n",
        "digits": b'{"x":' + b"9" * 5000 + b"}\n",
        "huge string": b'{"x":"' + b"a" * 2_000_000 + b'"}\n',
        "not json": b"{\n",
        "not utf8": b'{"x":"\xff"}\n',
    }[data.draw(st.sampled_from(["nest", "digits", "huge string", "not json", "not utf8"]))]


def _obj(line: bytes) -> dict[str, Any] | None:
    """A line this mutator made earlier may no longer be a version: then it is left as it is."""
    try:
        v = json.loads(line)
    except ValueError:
        return None
    keys = ("version_id", "payload", "record_id", "deleted", "content_hash")
    return v if isinstance(v, dict) and all(k in v for k in keys) else None


def _mutate_lines(data: Any) -> Any:
    def change(lines: list[bytes]) -> list[bytes]:
        out = list(lines)
        for _ in range(data.draw(st.integers(1, 3))):
            if not out:
                break
            i = data.draw(st.integers(0, len(out) - 1))
            j = data.draw(st.integers(0, len(out) - 1))
            how = data.draw(st.integers(0, 3))
            vi, vj = _obj(out[i]), _obj(out[j])
            if how == 0 and vi is not None:
                attack = data.draw(st.sampled_from(LINE_ATTACKS))
                out[i] = (json.dumps(attack(vi, data)) + "\n").encode()
            elif how == 1:
                out[i] = _raw_line(data)
            elif how == 2 and vi is not None and vj is not None:  # a cycle (i == j: a self-parent)
                out[i] = resigned_line(out[i], parent_version_id=vj["version_id"])
                out[j] = resigned_line(out[j], parent_version_id=vi["version_id"])
            elif how == 3:
                del out[i]
        return out

    return change


MANIFEST_ATTACKS = {
    "seq": lambda d: d.draw(st.sampled_from([0, 10**9, 2**63, -1, 2**53])),
    "counts": lambda d: d.draw(
        st.dictionaries(st.text(max_size=10), st.integers(-5, 10**12), max_size=3)
    ),
    "hlc_from": lambda d: d.draw(st.sampled_from(["9999999999999-99999", "", "x"])),
    "hlc_to": lambda d: d.draw(st.sampled_from(["0000000000000-00000", "", "x"])),
    "device_label": lambda d: d.draw(st.text(max_size=300)),
    "members": lambda d: d.draw(json_values),
    "format_version": lambda d: d.draw(st.sampled_from([True, 3, "2", 2.0])),
}


def _bundle(data: Any, w: World, good: Path, tmp: Path) -> Path:
    out = tmp / "x.fieldbundle"
    kind = data.draw(
        st.sampled_from(
            ["bytes", "zip json", "flip", "truncate", "member", "lines", "manifest", "manifest raw"]
        )
    )
    raw = good.read_bytes()
    if kind == "bytes":
        out.write_bytes(data.draw(st.binary(max_size=2000)))
    elif kind == "zip json":
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("manifest.json", json.dumps(data.draw(json_values)))
            zf.writestr("manifest.sig", data.draw(st.binary(max_size=100)))
            zf.writestr("versions.sealed", data.draw(st.binary(max_size=200)))
    elif kind == "flip":
        flipped = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4))):
            flipped[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        out.write_bytes(bytes(flipped))
    elif kind == "truncate":
        out.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    elif kind == "member":
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as zf:
            victim = data.draw(st.sampled_from(src.namelist()))
            for name in src.namelist():
                zf.writestr(
                    name, data.draw(st.binary(max_size=300)) if name == victim else src.read(name)
                )
    elif kind == "lines":
        reseal(w, good, out, lines=_mutate_lines(data))
    elif kind == "manifest":
        field = data.draw(st.sampled_from(sorted(MANIFEST_ATTACKS)))
        value = MANIFEST_ATTACKS[field](data)
        reseal(w, good, out, manifest=lambda m: m.update({field: value}))
    else:
        nested = b"[" * 1000 + b"]" * 1000
        pick = data.draw(st.sampled_from([nested, b"9" * 5000, b'"' + b"a" * 300_000 + b'"']))
        reseal(w, good, out, manifest_raw=lambda r: r[:-1] + b',"x":' + pick + b"}")
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)
@given(data=st.data())
def test_any_file_is_merged_or_refused_and_later_merges_still_work(
    data: Any, base: tuple[World, Path, Path, Path, str], tmp_path: Path
) -> None:
    w, first, second, pristine, before = base
    good = data.draw(st.sampled_from([first, second]))
    bad = _bundle(data, w, good, tmp_path)
    report = verify(bad, district_key=w.key, enrolled=None)
    assert report.ok or report.problem
    db = tmp_path / "district.db"
    shutil.copy(pristine, db)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = Store.open(db)
    try:
        assert bundle_status(store.conn, bad)[0] in ("new", "invalid", "already")
        [r] = merge_files(store.conn, [bad], district_key=w.key)
        assert r.status in ("merged", "invalid"), r
        if r.status == "invalid":
            assert r.reason and "无法处理此文件" not in r.reason, r.reason  # a foreseen refusal
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            assert dump_hash(db) == before
        [after] = merge_files(store.conn, [first], district_key=w.key)
        assert after.status in ("merged", "already"), after.reason
    finally:
        store.close()


def _outcome(parse: Any, data: bytes) -> tuple[str, str]:
    """What a parse gives: the value's repr (types, key order and all) or the refusal's message."""
    try:
        return "value", repr(parse(data, "第1行", "line 1"))
    except BundleError as e:
        return "refused", str(e)


# JSON texts as devices write them and as an attacker might: any JSON value, with or without
# escapes and spaces, then possibly cut, spliced or given a byte it should not have
_texts = st.one_of(
    st.builds(
        lambda v, ascii_, spaced: json.dumps(
            v, ensure_ascii=ascii_, separators=(", ", ": ") if spaced else (",", ":")
        ).encode("utf-8"),
        json_values,
        st.booleans(),
        st.booleans(),
    ),
    st.sampled_from(
        [
            b'{"a":1,"b":2,"a":3}',  # a repeated key: the last value, at the first key's place
            b"\xef\xbb\xbf{}",  # a byte order mark
            b'["\\ud800"]',  # a lone surrogate
            b"[18446744073709551616]",  # beyond 64 bits: orjson makes it a float
            b"[-9223372036854775809]",
            b"[123456789012345678901]",  # past the cap on digits
            b"[1e400]",
            b"[NaN]",
            b"[1.0, 2]",
            b'{"a": [01]}',
            b"[1,]",
            b'"\t"',
            b"{} {}",
            b"  {}  \n",
        ]
    ),
    st.binary(max_size=40),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, cut=st.integers(0, 60), extra=st.binary(max_size=3))
def test_the_fast_json_parse_gives_what_the_json_module_gives(
    text: bytes, cut: int, extra: bytes
) -> None:
    """load_json takes orjson's parse only where it equals the json module's (issue 20): the same
    value, of the same types in the same order, or the same refusal, on any bytes."""
    for data in (text, text[:cut] + extra + text[cut:], text[:cut]):
        assert _outcome(load_json, data) == _outcome(_reference_json, data)
        try:
            value, floats = bundle_format.parse_json(data, "", "")
        except BundleError:
            continue
        assert floats or not has_float(value)  # "no float" is only said of a value without one


def _reference_json(data: bytes, where_zh: str, where_en: str) -> Any:
    """The json module's parse behind the same depth check as load_json's."""
    if not bundle_format._depth_ok(data):
        return load_json(data, where_zh, where_en)  # the depth refusal comes before either parse
    return bundle_format._json_module(data, where_zh, where_en)
