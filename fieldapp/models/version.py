"""The version envelope of SPEC §4: one save of one record, its content hash and its checks."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from fieldapp.models.base import Record
from fieldapp.models.fields import RecordId
from fieldapp.models.registry import Kind, validate_record
from fieldapp.models.rules import (
    RecordInvalid,
    ValidationContext,
    explain,
    rule,
)

MAX_ALSO_PARENTS = 16  # = fieldapp.lineage.MAX_ALSO_PARENTS (SPEC §4 v2; a test keeps them equal)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(deleted: bool, payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of {deleted, payload} (SPEC §4)."""
    return content_hash_of(deleted, canonical_json(payload))


def content_hash_of(deleted: bool, payload_json: str) -> str:
    """The same from the payload's canonical JSON text: sorted keys put "deleted" before "payload",
    so the whole is the two pieces joined (the payload is encoded once, not twice)."""
    text = '{"deleted":' + ("true" if deleted else "false") + ',"payload":' + payload_json + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


HLC_RE = re.compile(r"^\d{13}-\d{5}$")


def _hlc(v: str) -> str:
    if not HLC_RE.match(v):
        raise rule(
            "hlc", "时钟值须为「13位毫秒-5位计数」", "must be <13-digit ms>-<5-digit counter>"
        )
    return v


def _sha(v: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise rule(
            "content_hash",
            "须为64位小写十六进制 SHA-256",
            "must be 64 lower-case hex digits (SHA-256)",
        )
    return v


class Version(BaseModel):
    """The envelope of one save (SPEC §4); the payload is checked by the kind's model."""

    model_config = ConfigDict(extra="forbid")
    _payload_json: str = PrivateAttr(default="")

    kind: Kind
    record_id: RecordId
    version_id: RecordId
    parent_version_id: RecordId | None = None
    hlc: Annotated[str, AfterValidator(_hlc)]
    device_id: RecordId
    deleted: bool
    content_hash: Annotated[str, AfterValidator(_sha)]
    payload: dict[str, Any]
    also_parents: list[RecordId] = Field(
        default_factory=list,
        max_length=MAX_ALSO_PARENTS,
        json_schema_extra={"label_zh": "其他父版本", "label_en": "Also parents"},
    )
    payload_schema: Literal[1, 2] = 1

    @model_validator(mode="after")
    def _parents(self) -> Version:
        """A version is never its own parent, and names each other parent once (SPEC §4 v2)."""
        if self.parent_version_id == self.version_id:
            raise rule(
                "parent_version_id",
                "父版本不能是该版本自身",
                "names the version itself (a version cannot be its own parent)",
            )
        seen = {self.version_id, self.parent_version_id}
        for p in self.also_parents:
            if p == self.version_id:
                raise rule(
                    "also_parents",
                    "其他父版本中含有该版本自身",
                    "names the version itself (a version cannot be its own parent)",
                )
            if p in seen:
                raise rule(
                    "also_parents",
                    f"父版本 {p} 重复出现",
                    f"{p} appears twice among the parents",
                )
            seen.add(p)
        return self

    @model_validator(mode="after")
    def _hash(self) -> Version:
        self._payload_json = canonical_json(self.payload)
        expect = content_hash_of(self.deleted, self._payload_json)
        if expect != self.content_hash:
            raise rule(
                "content_hash",
                "内容摘要与内容不符（数据被改动或损坏）",
                f"does not match the content (expected {expect[:12]}…)",
            )
        return self

    @property
    def payload_json(self) -> str:
        """The payload's canonical JSON, as hashed and as stored."""
        return self._payload_json

    def record(self, context: ValidationContext | None = None) -> Record:
        """The payload checked with the rules of its own payload schema (SPEC §3 v2)."""
        return validate_record(self.kind, self.payload, schema=self.payload_schema, context=context)


def validate_version(
    data: dict[str, Any], *, context: ValidationContext | None = None
) -> tuple[Version, Record]:
    """Envelope and payload, as the merge and the bundle reader need them. The payload follows the
    rules of the line's `payload_schema` (absent: 1); "today" is `context.today` (the merge passes
    the day after the bundle's signed created_at), else the local date."""
    try:
        v = Version.model_validate(data)
    except ValidationError as e:
        raise RecordInvalid(str(data.get("kind", "?")), explain(e, Version)) from None
    return v, v.record(context)
