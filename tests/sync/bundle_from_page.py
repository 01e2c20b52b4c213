"""Write a format 2 bundle from docs/bundle-format.md alone: PyNaCl and the standard library, no
fieldapp import (the test runs this file in its own interpreter and checks that). Each step names
the section of the page it follows.

usage: python bundle_from_page.py OUT_DIR DISTRICT_PUBLIC_JSON MANIFEST_EXAMPLE_FILE
prints a JSON object: the worked example's values (§8) and the paths written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import nacl.bindings as sodium
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey

SEED = bytes(range(32))  # §8: the 32 bytes 0 to 31
DEVICE_ID = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"
COMMUNITY, STREET = "321202001901", "321202001"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def canonical(obj: object) -> str:  # §4: keys sorted, "," and ":", no ASCII escaping
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(public: bytes) -> str:  # §6
    h = hashlib.sha256(public).hexdigest()[:32].upper()
    return "-".join(h[i : i + 4] for i in range(0, 32, 4))


def example_line() -> str:
    """§8: one elder, payload schema 2 (SPEC §3 v2), as one line with its newline."""
    payload = {
        "name": "王建国",
        "id_missing_reason": "示例：证件待补",
        "gender": "M",
        "birth_date": "1944-03-12",
        "address": "海陵区示例路8号2单元301",
        "community_code": COMMUNITY,
        "living_status": "alone",
        "hardship_tags": ["dibao"],
        "visit_risk": "high",
        "status": "active",
        "consent": "statutory_duty",
    }
    content = canonical({"deleted": False, "payload": payload})
    line = {
        "kind": "elder",
        "record_id": "0193a1b2-8000-7000-8000-000000000001",
        "version_id": "0193a1b2-8000-7000-8000-0000000000a1",
        "parent_version_id": None,
        "also_parents": [],
        "payload_schema": 2,
        "hlc": "1764493200000-00000",
        "device_id": DEVICE_ID,
        "deleted": False,
        "content_hash": hashlib.sha256(content.encode("utf-8")).hexdigest(),
        "payload": payload,
    }
    return canonical(line) + "\n"


def seal(plain: bytes, district_public: bytes) -> tuple[str, bytes]:
    """§5: zlib, a fresh key sealed to the district, secretstream frames with 4-byte lengths."""
    z = zlib.compressobj(6)
    compressed = z.compress(plain) + z.flush()
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    sealed_key = b64(SealedBox(PublicKey(district_public)).encrypt(key))
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    out = [sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)]
    chunks = [compressed[i : i + 65536] for i in range(0, len(compressed), 65536)] or [b""]
    for i, chunk in enumerate(chunks):
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            if i == len(chunks) - 1
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        )
        c = sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag)
        out.append(struct.pack(">I", len(c)) + c)
    return sealed_key, b"".join(out)


def main(out_dir: Path, district_file: Path, manifest_example: Path) -> None:
    district = json.loads(district_file.read_text(encoding="utf-8"))  # §6
    district_public = base64.b64decode(district["public"])
    sk = SigningKey(SEED)
    public = bytes(sk.verify_key)
    device_file = out_dir / "device.pub.json"  # §6: the device's public key file, for enrolment
    device_file.write_text(
        json.dumps(
            {
                "format": "fieldapp-device-public-key",
                "device_id": DEVICE_ID,
                "label": "示例社区-笔记本1",
                "community_code": COMMUNITY,
                "public": b64(public),
                "fingerprint": fingerprint(public),
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    line = example_line()
    plain = line.encode("utf-8")
    sealed_key, sealed = seal(plain, district_public)
    manifest = {  # §2
        "format": "fieldapp-bundle",
        "format_version": 2,
        "schema_version": 2,
        "bundle_id": "0193a1b2-9000-7000-8000-00000000c002",
        "device_id": DEVICE_ID,
        "device_label": "示例社区-笔记本1",
        "worker": "周红",
        "street_code": STREET,
        "community_code": COMMUNITY,
        "period": "2025-11",
        "created_at": "2025-11-30T17:30:00+08:00",
        "seq": 1,
        "prev_bundle_id": None,
        "hlc_from": "1764493200000-00000",
        "hlc_to": "1764493200000-00000",
        "counts": {"elder": 1},
        "members": {
            "versions.sealed": {"sha256": hashlib.sha256(sealed).hexdigest(), "bytes": len(sealed)}
        },
        "plain": {"sha256": hashlib.sha256(plain).hexdigest(), "bytes": len(plain), "lines": 1},
        "encryption": {
            "scheme": "x25519-sealedbox+xchacha20poly1305-secretstream+zlib",
            "sealed_key": sealed_key,
        },
        "device_public_key": b64(public),
        "app_version": "bundle-from-page",
    }
    body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    bundle = out_dir / f"{COMMUNITY}-2025-11-{DEVICE_ID[:8]}-1.fieldbundle"  # §1
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", body)
        zf.writestr("manifest.sig", b64(sk.sign(body).signature))  # §3
        zf.writestr("versions.sealed", sealed)
    example = manifest_example.read_bytes()  # §8: the page's manifest, signed byte for byte
    print(
        json.dumps(
            {
                "line": line.rstrip("\n"),
                "public": b64(public),
                "fingerprint": fingerprint(public),
                "content_hash": json.loads(line)["content_hash"],
                "plain_sha256": hashlib.sha256(plain).hexdigest(),
                "plain_bytes": len(plain),
                "manifest": body.decode("utf-8"),
                "signature": b64(sk.sign(example).signature),
                "bundle": str(bundle),
                "device_file": str(device_file),
                "imported_fieldapp": any(m.split(".")[0] == "fieldapp" for m in sys.modules),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
