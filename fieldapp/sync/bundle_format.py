"""What a sync bundle is (SPEC §5): its names, members, safety caps, manifest model and error type.

The writer and the reader both import this module, so the format is declared once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fieldapp import models
from fieldapp.models.version import has_float
from fieldapp.text import clean

FORMAT = "fieldapp-bundle"
FORMAT_VERSION = 1
MEMBERS = ("manifest.json", "versions.ndjson")
MEMBERS_V2 = ("manifest.json", "manifest.sig", "versions.sealed")
SUFFIX = ".fieldbundle"
READABLE_SCHEMAS = (1, 2)  # payload schemas a manifest may declare (SPEC §3 v2: 1 stays readable)

# safety caps (a bundle of a community-month is a few MB; a whole district year of one device ~100 MB)
MAX_FILE_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 1 << 20
MAX_VERSIONS_BYTES = 4 << 30
MAX_RATIO = 200  # uncompressed ÷ compressed; JSON of records compresses ~10–30×
MAX_LINE_BYTES = 1 << 20
CHUNK = 1 << 20
# caps on what JSON may hold (SPEC §6 v2): a version is a flat object with a few small lists
MAX_DEPTH = 32
MAX_INT_DIGITS = 20  # a sign and 19 digits: every int64; Python's int-string limit is never reached
MAX_SEQ_STEP = 1000  # a bundle's seq at most this far above the device's last merged one
MAX_SEQ = (1 << 53) - 1  # stored exactly in SQLite and in JSON readers elsewhere
MAX_ALSO_PARENTS = 16

Progress = Callable[[int, int], None]


class BundleError(ValueError):
    """A bundle that cannot be used, and why (Chinese first, then English)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = clean(zh), clean(en)
        super().__init__(f"{self.zh}（{self.en}）")


def _int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise BundleError(
            f"整数位数过多（{len(text)} 位，上限 {MAX_INT_DIGITS}）",
            f"an integer has {len(text)} digits (the cap is {MAX_INT_DIGITS})",
        )
    return int(text)


def _constant(name: str) -> float:
    raise BundleError(f"不允许的数值 {name}", f"{name} is not allowed")


def _depth_ok(data: bytes) -> bool:
    """Whether brackets nest at most MAX_DEPTH deep. Counting all brackets is C-speed and settles
    almost every line; only a line with more brackets than the cap is scanned (outside strings)."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return True
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


_DECODER = json.JSONDecoder(parse_int=_int, parse_constant=_constant)  # one, not one per line


def load_json(data: bytes, where_zh: str, where_en: str) -> Any:
    """`parse_json`'s value."""
    return parse_json(data, where_zh, where_en)[0]


def parse_json(data: bytes, where_zh: str, where_en: str) -> tuple[Any, bool]:
    """JSON from an untrusted file, within the caps: nesting depth, integer digits, no NaN or
    Infinity; any failure is a BundleError naming `where` (never RecursionError or ValueError).

    orjson parses it first (about 4 × faster: a merge parses 400,000 lines, issue 20), and its
    result is taken when it holds no float: for text without a number that has a fraction or an
    exponent, orjson and the json module give the same values (tests/sync/test_fuzz.py compares
    them). Anything else goes to the json module, which decides and explains: a float (both round
    it, but only the json module's result is the reference), an integer beyond 64 bits (orjson
    makes it a float, so it lands here too), a lone surrogate or any text orjson refuses.
    With the value, whether it may hold a float: False when orjson's was taken (it holds none)."""
    if not _depth_ok(data):
        raise BundleError(
            f"{where_zh}的 JSON 嵌套超过 {MAX_DEPTH} 层",
            f"{where_en}: JSON nested deeper than {MAX_DEPTH} levels",
        )
    try:
        fast = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if not has_float(fast):
            return fast, False
    return _json_module(data, where_zh, where_en), True


def _json_module(data: bytes, where_zh: str, where_en: str) -> Any:
    """`load_json` by the json module alone, after the depth check: the reference."""
    try:
        return _DECODER.decode(data.decode("utf-8"))
    except BundleError as e:
        raise BundleError(f"{where_zh}：{e.zh}", f"{where_en}: {e.en}") from None
    except UnicodeDecodeError:
        raise BundleError(f"{where_zh}不是 UTF-8", f"{where_en} is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise BundleError(
            f"{where_zh}不是有效的 JSON：{e.msg}", f"{where_en} is not valid JSON: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise BundleError(
            f"{where_zh}不是有效的 JSON", f"{where_en} is not valid JSON ({type(e).__name__})"
        ) from None


Text = Annotated[str, Field(max_length=200)]
Count = Annotated[int, Field(ge=0, le=1 << 40)]


class MemberInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: Annotated[str, Field(max_length=64)]
    bytes: Count
    lines: Count | None = None  # the sealed member of format 2 has no lines


class Encryption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: Text
    sealed_key: Text
    # office sync (SPEC §5b): the same stream key sealed to the community's other laptops,
    # device_id → sealed key; absent in a bundle for the district alone
    colleagues: (
        Annotated[dict[Annotated[str, Field(max_length=36)], Text], Field(max_length=64)] | None
    ) = None


class Manifest(BaseModel):
    """manifest.json of SPEC §5; no personal data in it."""

    model_config = ConfigDict(extra="forbid")

    format: Text
    format_version: int
    schema_version: int
    bundle_id: Text
    device_id: Text
    device_label: Text
    worker: Text
    street_code: Text
    community_code: Text
    period: Text
    created_at: Text
    seq: Annotated[int, Field(ge=1, le=MAX_SEQ)]
    prev_bundle_id: Text | None
    hlc_from: Text | None
    hlc_to: Text | None
    counts: Annotated[dict[Annotated[str, Field(max_length=40)], Count], Field(max_length=64)]
    members: Annotated[dict[Annotated[str, Field(max_length=40)], MemberInfo], Field(max_length=4)]
    app_version: Text
    # format 2 (docs/security.md): the device's signing key, how the versions are sealed, and the
    # digest of the plaintext versions.ndjson checked after decryption
    device_public_key: Text | None = None
    encryption: Encryption | None = None
    plain: MemberInfo | None = None
    # SPEC §5b: a device's bundle has no direction, or "device" (return bundles have their own model)
    direction: Literal["device"] | None = None
    # SPEC §5b: the highest seq of the district's return bundles this laptop has applied, per
    # community (the district sees which laptops are up to date); absent before the first
    returns_applied: (
        Annotated[
            dict[Annotated[str, Field(max_length=12)], Annotated[int, Field(ge=1, le=MAX_SEQ)]],
            Field(max_length=64),
        ]
        | None
    ) = None

    def dump(self) -> dict[str, Any]:
        """The manifest as written: format 1 has exactly the fields of SPEC §5."""
        data = self.model_dump()
        if self.format_version == 1:
            for key in ("device_public_key", "encryption", "plain"):
                data.pop(key)
        for optional in ("direction", "returns_applied"):
            if data.get(optional) is None:
                data.pop(optional)
        if data.get("encryption") and data["encryption"].get("colleagues") is None:
            data["encryption"].pop("colleagues")
        for member in data["members"].values():
            if member.get("lines") is None:
                member.pop("lines", None)
        return data

    @field_validator("bundle_id", "device_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        if not models._UUID.match(v):
            raise ValueError("must be a UUID")
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if len(v) != 7 or v[4] != "-" or not (v[:4] + v[5:]).isdigit() or not 1 <= int(v[5:]) <= 12:
            raise ValueError("must be YYYY-MM")
        return v


def bundle_name(community_code: str, period: str, device_id: str, seq: int) -> str:
    """No personal data in the name (SPEC §5)."""
    return f"{community_code}-{period}-{device_id[:8]}-{seq}{SUFFIX}"


def file_sha256(path: Path) -> str:
    """The whole file's digest, read in chunks (the district records it for each merged bundle)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
