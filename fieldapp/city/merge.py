"""The city's side of indicator bundles: enrol a district's signing key, check a bundle (ZIP,
signature by the enrolled key of the district it names, hashes, rows, years, area codes) and
merge it, a newer bundle of a district and year replacing the older one, the older kept.

Every refusal says why and changes nothing: the checks all run before the one transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fieldapp import crypto
from fieldapp.city.publish import FORMAT, FORMAT_VERSION, MEMBER, ROW_FIELDS
from fieldapp.district_keys import DistrictPublic
from fieldapp.indicators import INDICATORS
from fieldapp.sqlite import sqlite3

MAX_MANIFEST = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
LEVELS = {"district": 6, "street": 9, "community": 12}
MANIFEST_FIELDS = {
    "format",
    "format_version",
    "bundle_id",
    "district_code",
    "year",
    "as_of",
    "created_at",
    "population_year",
    "rows",
    "members",
    "sign_public",
    "app_version",
}


class Refused(ValueError):
    """A bundle or key the city does not take, and why (zh)."""


@dataclass(frozen=True)
class Merged:
    file_name: str
    district: str
    year: int
    outcome: str  # merged, replaced, duplicate, older (kept in history, not current)


def enroll(conn: sqlite3.Connection, key: DistrictPublic) -> None:
    """Record a district's keys (the caller has had the fingerprint confirmed)."""
    if key.sign_public is None or key.sign_fingerprint is None:
        raise Refused("请重新生成区级密钥（旧密钥文件没有签名密钥）")
    if not conn.execute(
        "SELECT 1 FROM ref_division WHERE code = ?", (key.district_code,)
    ).fetchone():
        raise Refused(f"区县代码{key.district_code}不在本市的区划表中")
    other = conn.execute(
        "SELECT code FROM district WHERE sign_public = ? AND code != ?",
        (crypto.b64(key.sign_public), key.district_code),
    ).fetchone()
    if other:
        raise Refused(f"该签名公钥已登记给区县{other[0]}")
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO district VALUES (?, ?, ?, ?, ?, ?)",
            (
                key.district_code,
                crypto.b64(key.public),
                key.fingerprint,
                crypto.b64(key.sign_public),
                key.sign_fingerprint,
                datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="seconds"),
            ),
        )


def _members(path: Path) -> tuple[bytes, bytes, bytes, str]:
    try:
        raw = path.read_bytes()
        with zipfile.ZipFile(path) as z:
            names = [i.filename for i in z.infolist()]
            if sorted(names) != sorted(["manifest.json", "manifest.sig", MEMBER]):
                raise Refused(
                    f"包内文件不对：{', '.join(names)}（应为 manifest.json、manifest.sig、{MEMBER}）"
                )
            sizes = {i.filename: i.file_size for i in z.infolist()}
            if sizes["manifest.json"] > MAX_MANIFEST or sizes[MEMBER] > MAX_BODY:
                raise Refused("包内文件过大")
            return (
                z.read("manifest.json"),
                z.read("manifest.sig")[:1024],
                z.read(MEMBER),
                hashlib.sha256(raw).hexdigest(),
            )
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError):
        raise Refused("不是有效的ZIP指标包（文件损坏或格式不对）") from None
    except RuntimeError:  # an encrypted member
        raise Refused("指标包的成员不能加密") from None


def _manifest(mbytes: bytes) -> dict[str, Any]:
    try:
        m = json.loads(mbytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused("manifest.json 不是有效的JSON") from None
    if (
        not isinstance(m, dict)
        or m.get("format") != FORMAT
        or m.get("format_version") != FORMAT_VERSION
    ):
        raise Refused(
            f"manifest.json 不是指标包清单（format 应为 {FORMAT}，版本 {FORMAT_VERSION}）"
        )
    if set(m) != MANIFEST_FIELDS:
        raise Refused(f"manifest.json 字段不对：{', '.join(sorted(set(m) ^ MANIFEST_FIELDS))}")
    year = m["year"]
    if not isinstance(year, int) or not 2000 <= year <= date.today().year:
        raise Refused(f"年份{year!r}未知（2000至今年）")
    return m


def _signer(conn: sqlite3.Connection, m: dict[str, Any], mbytes: bytes, sig: bytes) -> str:
    """The enrolled district whose key signed the manifest; refused when it is not the district
    the manifest names, or none."""
    try:
        signature = crypto.unb64(sig.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise Refused("manifest.sig 不是base64签名") from None
    code = str(m["district_code"])
    keys = dict(conn.execute("SELECT code, sign_public FROM district").fetchall())
    signed_by = [c for c, k in keys.items() if crypto.verify(k, mbytes, signature)]
    if code not in keys:
        raise Refused(f"区县{code}未登记（先运行 fieldapp city enroll）")
    if code in signed_by:
        return code
    if signed_by:
        raise Refused(f"签名来自区县{signed_by[0]}的密钥，不是清单所写的区县{code}")
    raise Refused(f"签名无效：清单被改动，或不是区县{code}登记的密钥所签")


def _number(row: dict[str, Any], field: str, *, required: bool) -> None:
    v = row.get(field)
    if v is None and not required:
        return
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        raise Refused(f"{field}应为数字：{v!r}")


def _check_row(row: Any, m: dict[str, Any], divisions: set[str]) -> tuple[object, ...]:
    if not isinstance(row, dict) or set(row) != set(ROW_FIELDS):
        raise Refused("字段不对")
    level, code, year = row["area_level"], str(row["area_code"]), m["year"]
    if level not in LEVELS or len(code) != LEVELS[level] or not code.isdigit():
        raise Refused(f"区域代码{code!r}不是{level}级的代码")
    if not code.startswith(m["district_code"]) or m["district_code"] not in divisions:
        raise Refused(f"区域代码{code}不属于区县{m['district_code']}")
    if row["indicator"] not in INDICATORS:
        raise Refused(f"未知指标{row['indicator']!r}")
    period = str(row["period"])
    if period != str(year) and not (
        len(period) == 7
        and period[:5] == f"{year}-"
        and period[5:].isdigit()
        and 1 <= int(period[5:]) <= 12
    ):
        raise Refused(f"期间{period!r}不属于{year}年")
    _number(row, "numerator", required=True)
    for f in ("denominator", "value", "target"):
        _number(row, f, required=False)
    return tuple(row[f] for f in ROW_FIELDS)


def _rows(body: bytes, m: dict[str, Any], divisions: set[str]) -> list[tuple[object, ...]]:
    member = m["members"].get(MEMBER) if isinstance(m["members"], dict) else None
    if not isinstance(member, dict) or member.get("sha256") != hashlib.sha256(body).hexdigest():
        raise Refused(f"{MEMBER} 与清单的SHA-256不符（被改动）")
    out, seen = [], set()
    for i, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
        try:
            row = _check_row(json.loads(line), m, divisions)
        except json.JSONDecodeError:
            raise Refused(f"{MEMBER} 第{i}行不是JSON") from None
        except Refused as e:
            raise Refused(f"{MEMBER} 第{i}行：{e}") from None
        key = (row[1], row[2], row[3])
        if key in seen:
            raise Refused(f"{MEMBER} 第{i}行重复：{key}")
        seen.add(key)
        out.append(row)
    if len(out) != m["rows"]:
        raise Refused(f"行数{len(out)}与清单的{m['rows']}不符")
    return out


def check(
    conn: sqlite3.Connection, path: Path
) -> tuple[dict[str, Any], list[tuple[object, ...]], str]:
    """The checked manifest, rows and file SHA-256 of a bundle, or Refused with the reason."""
    mbytes, sig, body, sha = _members(path)
    m = _manifest(mbytes)
    _signer(conn, m, mbytes, sig)
    divisions = {r[0] for r in conn.execute("SELECT code FROM ref_division")}
    return m, _rows(body, m, divisions), sha


def merge_file(conn: sqlite3.Connection, path: Path) -> Merged:
    """Merge one bundle (idempotent: the same file again changes nothing)."""
    m, rows, sha = check(conn, path)
    code, year = str(m["district_code"]), int(m["year"])
    if conn.execute(
        "SELECT 1 FROM bundle WHERE file_sha256 = ? OR bundle_id = ?", (sha, m["bundle_id"])
    ).fetchone():
        return Merged(path.name, code, year, "duplicate")
    cur = conn.execute(
        "SELECT created_at FROM bundle WHERE district = ? AND year = ? AND current = 1",
        (code, year),
    ).fetchone()
    newer = cur is None or str(m["created_at"]) > cur[0]
    with conn:
        if newer:
            conn.execute(
                "UPDATE bundle SET current = 0 WHERE district = ? AND year = ?", (code, year)
            )
        conn.execute(
            "INSERT INTO bundle VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m["bundle_id"],
                code,
                year,
                str(m["as_of"]),
                str(m["created_at"]),
                path.name,
                sha,
                len(rows),
                datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="seconds"),
                int(newer),
            ),
        )
        conn.executemany(
            "INSERT INTO figure VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(m["bundle_id"], *r) for r in rows],
        )
    outcome = "older" if not newer else ("replaced" if cur else "merged")
    return Merged(path.name, code, year, outcome)
