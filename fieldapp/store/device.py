"""Setting a database up as a worker's device or as the district, and the keys each holds (docs/security.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fieldapp import crypto, kinds
from fieldapp.store.base import Device, StoreBase
from fieldapp.store.errors import StoreError


class DeviceMixin(StoreBase):
    """Setup (once per database), the device's signing key, and the district's list of enrolled devices."""

    def setup_device(
        self, *, street_code: str, community_code: str, worker: str, label: str | None = None
    ) -> Device:
        """First run: the worker's community and name; the device id is made here, once."""
        if self.device() is not None:
            raise StoreError("本设备已设置，不能重复设置", "this device is already set up")
        community_name = self._community_in_street(street_code, community_code)
        worker = worker.strip()
        if not worker:
            raise StoreError("请填写工作人员姓名", "worker name is required", "worker")
        device_id = self._new_id()
        # the signing key is made once, at setup (docs/security.md)
        sign_private, sign_public = crypto.new_signing_key()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO device_keys (singleton, sign_private, sign_public) VALUES (1, ?, ?)",
                (sign_private, sign_public),
            )
            self.conn.execute(
                "INSERT INTO device (singleton, role, device_id, label, worker, street_code, community_code, created_at)"
                " VALUES (1, 'device', ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    label or f"{community_name}-{worker}",
                    worker,
                    street_code,
                    community_code,
                    self._local_now_iso(),
                ),
            )
        dev = self.device()
        assert dev is not None
        return dev

    def _community_in_street(self, street_code: str, community_code: str) -> str:
        """The community's name, once both codes are known and the community lies in the street."""
        street = self.conn.execute(
            "SELECT name_zh FROM ref_street WHERE code = ?", (street_code,)
        ).fetchone()
        if street is None:
            raise StoreError(
                f"街道代码「{street_code}」不存在",
                f"unknown street code {street_code!r}",
                "street_code",
            )
        comm = self.conn.execute(
            "SELECT name_zh, street_code FROM ref_community WHERE code = ?", (community_code,)
        ).fetchone()
        if comm is None:
            raise StoreError(
                f"社区代码「{community_code}」不存在",
                f"unknown community code {community_code!r}",
                "community_code",
            )
        if comm["street_code"] != street_code:
            raise StoreError(
                f"社区「{comm['name_zh']}」不属于{street['name_zh']}",
                f"community {community_code} is not in street {street_code}",
                "community_code",
            )
        return str(comm["name_zh"])

    def setup_district(self, label: str = "海陵区民政局") -> Device:
        """A district database: the same schema and seed, no worker or community of its own."""
        if self.device() is not None:
            raise StoreError(
                "该数据库已设置，不能再设为区级数据库", "this database is already set up"
            )
        with self.transaction():
            self.conn.execute(
                "INSERT INTO device_keys (singleton, hmac_secret) VALUES (1, ?)",
                (crypto.new_hmac_secret(),),
            )
            self.conn.execute(
                "INSERT INTO device (singleton, role, device_id, label, created_at) VALUES (1, 'district', ?, ?, ?)",
                (self._new_id(), label, self._local_now_iso()),
            )
        dev = self.device()
        assert dev is not None
        return dev

    # ------------------------------------------------------------ keys

    def keys(self) -> dict[str, Any]:
        """The `device_keys` row: a device's signing key and the district's public key, or the district's HMAC secret."""
        row = self.conn.execute("SELECT * FROM device_keys").fetchone()
        return dict(row) if row else {}

    def install_district_key(
        self, public: bytes, fingerprint: str, sign_public: bytes | None = None
    ) -> None:
        """The district's public key, which this device seals its bundles to, and its signing key
        (return bundles are checked against it; None from a key file older than it)."""
        dev = self.device()
        if dev is None or dev.role != "device":
            raise StoreError(
                "只有设备数据库需要区级公钥", "only a device database takes the district public key"
            )
        with self.transaction():
            self.conn.execute(
                "UPDATE device_keys SET district_public = ?, district_fingerprint = ?,"
                " district_sign_public = ?",
                (crypto.b64(public), fingerprint, crypto.b64(sign_public) if sign_public else None),
            )

    # ------------------------------------------------------------ the district's enrolled devices

    def enroll(
        self,
        device_id: str,
        public_b64: str,
        *,
        label: str | None,
        by: str,
        communities: Sequence[str] = (),
    ) -> str:
        """The district accepts this device's signatures from now on; returns the key's fingerprint.
        `communities` are the ones it may write (SPEC §4a); enrolled without any, its bundles wait
        for the supervisor's `confirm`. Enrolling again with communities confirms them."""
        fp = crypto.fingerprint(crypto.unb64(public_b64))
        codes = self._known_communities(communities)
        with self.transaction():
            row = self.conn.execute(
                "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?",
                (device_id,),
            ).fetchone()
            if row is not None and row["revoked_at"]:
                raise StoreError(
                    "该设备已被撤销，不能重新登记（请在设备上重新设置）",
                    "this device was revoked and cannot be enrolled again",
                )
            if row is not None and row["public_key"] != public_b64:
                raise StoreError(
                    "该设备已用另一把密钥登记", "this device is enrolled with another key"
                )
            self.conn.execute(
                "INSERT OR IGNORE INTO enrolled_devices (device_id, public_key, fingerprint, label, enrolled_at,"
                " enrolled_by, communities, community_confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    public_b64,
                    fp,
                    label,
                    kinds.now_iso(),
                    by,
                    json.dumps(codes),
                    int(bool(codes)),
                ),
            )
            if row is not None and codes:
                self._set_communities(device_id, codes)
        return fp

    def confirm(self, device_id: str, communities: Sequence[str]) -> None:
        """The supervisor confirms which communities an enrolled device may write (SPEC §4a)."""
        codes = self._known_communities(communities)
        if not codes:
            raise StoreError(
                "请用 --community 指定社区代码",
                "name the community with --community",
                "community_code",
            )
        with self.transaction():
            if not self._set_communities(device_id, codes):
                raise StoreError(
                    "没有该已登记且未撤销的设备", f"no enrolled, unrevoked device {device_id}"
                )

    def _set_communities(self, device_id: str, codes: list[str]) -> bool:
        cur = self.conn.execute(
            "UPDATE enrolled_devices SET communities = ?, community_confirmed = 1"
            " WHERE device_id = ? AND revoked_at IS NULL",
            (json.dumps(codes), device_id),
        )
        return cur.rowcount > 0

    def _known_communities(self, communities: Sequence[str]) -> list[str]:
        """The codes, each known to the reference data, without repeats (in the order given)."""
        codes = list(dict.fromkeys(c.strip() for c in communities if c.strip()))
        for code in codes:
            if code not in self.community_codes():
                raise StoreError(
                    f"社区代码「{code}」不存在",
                    f"unknown community code {code!r}",
                    "community_code",
                )
        return codes

    def revoke(self, device_id: str, *, by: str) -> None:
        """The district refuses this device's bundles from now on (a lost laptop); what was merged stays."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE enrolled_devices SET revoked_at = ?, revoked_by = ? WHERE device_id = ? AND revoked_at IS NULL",
                (kinds.now_iso(), by, device_id),
            )
            if cur.rowcount == 0:
                raise StoreError(
                    "没有该已登记且未撤销的设备", f"no enrolled, unrevoked device {device_id}"
                )

    def enrolled(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.conn.execute("SELECT * FROM enrolled_devices ORDER BY enrolled_at")
        ]
