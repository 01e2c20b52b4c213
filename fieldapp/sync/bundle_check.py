"""The trust rules a bundle's content must pass, written once for `fieldapp verify` and the merge.

Who signed it (the enrolled, unrevoked key of the device it names) and whether each line is a valid
version of that device; `verify` applies them without a database, the merge before it writes.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fieldapp import models
from fieldapp.sync.bundle_format import MAX_ALSO_PARENTS, BundleError, Manifest
from fieldapp.sync.bundle_read import BundleReader, Line, open_bundle
from fieldapp.text import clean

if TYPE_CHECKING:
    from nacl.public import PrivateKey


class Enrolment(NamedTuple):
    """A device as the district enrolled it (SPEC §5, docs/security.md)."""

    public_key: str
    revoked_at: str | None


# device_id → (public key, revoked_at): the district's enrolled_devices table
Enrolled = Mapping[str, tuple[str, str | None]]


def check_signer(reader: BundleReader, enrolled: Enrolled | None) -> str:
    """Format 2: the manifest must be signed by the enrolled, unrevoked key of the device it names,
    checked before anything is decrypted. With no enrolment at hand (`enrolled` None: verify without
    the district database) only the key the manifest names is checked. Returns who signed it."""
    from fieldapp import crypto

    m = reader.manifest
    assert m.device_public_key is not None  # open_bundle refuses a format 2 manifest without it
    try:
        fp = crypto.fingerprint(crypto.unb64(m.device_public_key))
    except ValueError:
        raise BundleError(
            "清单中的设备公钥不是有效的 base64", "the manifest's device_public_key is not base64"
        ) from None
    signer = f"signed by device {m.device_id[:8]} key {fp}"
    if enrolled is None:
        if not reader.signed_by(m.device_public_key):
            raise BundleError(
                "签名与清单中的设备密钥不符（伪造或被改动）",
                "the signature does not match the manifest's device key (forged or altered)",
            )
        return signer
    public_key = check_enrolled(m, enrolled, fp)
    if m.device_public_key != public_key or not reader.signed_by(public_key):
        raise BundleError(
            "签名与登记的设备密钥不符（伪造或被改动），同步包不予接受",
            "the signature does not match the enrolled device key (forged or altered): the bundle is refused",
        )
    return signer + ", enrolled"


def check_enrolled(m: Manifest, enrolled: Enrolled, fp: str = "") -> str:
    """The device the manifest names is enrolled and not revoked (format 1 and 2 alike: accepting
    format 1 never skips this); returns its enrolled public key."""
    label = clean(m.device_label, 40)
    known = enrolled.get(m.device_id)
    if known is None:
        shown = f"，指纹 {fp}" if fp else ""
        shown_en = f", fingerprint {fp}" if fp else ""
        raise BundleError(
            f"设备 {m.device_id[:8]}（{label}{shown}）未登记：请与设备上显示的指纹核对后运行 fieldapp district enroll",
            f"device {m.device_id[:8]} ({label}{shown_en}) is not enrolled: check the fingerprint shown on the device, then `fieldapp district enroll`",
        )
    public_key, revoked_at = known
    if revoked_at:
        raise revoked(m.device_id, revoked_at)
    return public_key


def revoked(device_id: str, revoked_at: str) -> BundleError:
    """The one message for a revoked device's bundle (verify, merge, who-may-write checks)."""
    return BundleError(
        f"设备 {device_id[:8]} 已于 {revoked_at} 撤销，其同步包不予接受"
        "（被盗前的包可由主管逐个接受：fieldapp district accept-bundle 文件）",
        f"device {device_id[:8]} was revoked on {revoked_at}: its bundles are refused"
        " (a bundle made before the theft can be accepted with `fieldapp district accept-bundle FILE`)",
    )


class LineInvalid(BundleError):
    """A version line that breaks a record rule: the line, its record id and the first problem."""

    def __init__(self, line: Line, problem: models.Problem) -> None:
        self.line, self.problem = line, problem
        self.record_id = clean(line.data.get("record_id", "?"), 64)
        super().__init__(
            f"第{line.no}行（记录 {self.record_id}）不合格：{problem.text('zh')}",
            f"line {line.no} (record {self.record_id}) is invalid: {problem.text('en')}",
        )


_OTHER_DEVICE = models.Problem(
    "device_id", "设备", "device", "与同步包清单的设备不一致", "differs from the bundle's device"
)
_TOO_MANY_PARENTS = models.Problem(
    "also_parents",
    "其他父版本",
    "also_parents",
    f"超过 {MAX_ALSO_PARENTS} 个",
    f"more than {MAX_ALSO_PARENTS} entries",
)


def line_context(manifest: Manifest) -> models.ValidationContext:
    """What "today" means for a bundle's lines: the day after its signed created_at (SPEC §6 step
    3), so a merge's result never depends on the day it is run."""
    try:
        created = datetime.fromisoformat(manifest.created_at)
    except ValueError:
        raise BundleError(
            f"清单的 created_at 不是有效的时间：{manifest.created_at[:40]!r}",
            f"the manifest's created_at is not an ISO 8601 time: {manifest.created_at[:40]!r}",
        ) from None
    return models.ValidationContext(today=created.date() + timedelta(days=1))


def check_line(
    line: Line, device_id: str, context: models.ValidationContext | None = None
) -> tuple[models.Version, models.Record]:
    """A line is a valid version (envelope, content hash, payload under the rules of its payload
    schema, "today" from `context`) made by the bundle's device."""
    also = line.data.get("also_parents")
    if isinstance(also, list) and len(also) > MAX_ALSO_PARENTS:
        raise LineInvalid(line, _TOO_MANY_PARENTS)
    try:
        version, record = models.validate_version(line.data, context=context, floats=line.floats)
    except models.RecordInvalid as e:
        raise LineInvalid(line, e.problems[0]) from None
    if version.device_id != device_id:
        raise LineInvalid(line, _OTHER_DEVICE)
    return version, record


# ------------------------------------------------------------------ verify


@dataclass
class Report:
    path: Path
    ok: bool
    problem: str | None
    manifest: Manifest | None
    counts: dict[str, int]
    signature: str = ""  # format 2: what is known of the signer


def verify(
    path: Path,
    *,
    enrolled: Enrolled | None = None,
    district_key: PrivateKey | None = None,
) -> Report:
    """Check a bundle without touching any database: structure, and (format 1, or format 2 with the
    district's private key) every line with `check_line`, counts and hlc range against the manifest.
    Format 2 without the key: the signature and the sealed member's digest. `enrolled` (device_id →
    (public key, revoked_at)) checks the enrolment too. Verify reports format 1 bundles as what they
    are (its report names the format); accepting them is the merge's decision (`allow_v1`)."""
    try:
        reader = open_bundle(path, allow_v1=True)
    except BundleError as e:
        return Report(path, False, str(e), None, {})
    counts: dict[str, int] = {}
    signature = ""
    try:
        with reader:
            if reader.version == 1 and enrolled is not None:
                check_enrolled(reader.manifest, enrolled)
            if reader.version == 2:
                signature = check_signer(reader, enrolled)
                reader.check_sealed()
                if district_key is None:
                    m = reader.manifest
                    sealed = signature + "; content sealed (not decrypted)"
                    return Report(path, True, None, m, dict(m.counts), sealed)
            _count_lines(reader, district_key, counts)
    except BundleError as e:
        return Report(path, False, str(e), reader.manifest, counts, signature)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        damaged = BundleError("文件损坏，无法解压", f"damaged file, cannot decompress ({e})")
        return Report(path, False, str(damaged), reader.manifest, counts, signature)
    return Report(path, True, None, reader.manifest, counts, signature)


def _count_lines(
    reader: BundleReader, district_key: PrivateKey | None, counts: dict[str, int]
) -> None:
    """Every line checked, counted by kind into `counts`, its hlc within the manifest's range."""
    tally = Tally(reader.manifest, counts)
    context = line_context(reader.manifest)
    for line in reader.lines(district_key):
        version, _ = check_line(line, reader.manifest.device_id, context)
        tally.add(line.no, version.kind, version.hlc)
    tally.finish()


class CountsDiffer(BundleError):
    """The lines' counts per kind are not the manifest's (found after the last line)."""


@dataclass
class Tally:
    """What the lines say against what the signed manifest says: counts per kind and the hlc
    range. Verify and the merge both keep one, so a lying manifest is refused by either."""

    manifest: Manifest
    counts: dict[str, int]

    def add(self, no: int, kind: str, hlc_: str | None) -> None:
        m = self.manifest
        if hlc_ is not None and m.hlc_from and m.hlc_to and not (m.hlc_from <= hlc_ <= m.hlc_to):
            raise BundleError(
                f"第{no}行的 hlc 超出清单范围",
                f"line {no}: hlc outside the manifest's hlc_from..hlc_to",
            )
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def finish(self) -> None:
        m = self.manifest
        if self.counts != {k: v for k, v in m.counts.items() if v}:
            shown, listed = clean(self.counts, 300), clean(m.counts, 300)
            raise CountsDiffer(
                f"各类记录数 {shown} 与清单 {listed} 不符",
                f"counts {shown} differ from the manifest's {listed}",
            )
