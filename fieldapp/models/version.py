"""The version envelope of SPEC §4: one save of one record, its content hash and its checks."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal, get_args

import orjson
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
    """Sorted keys, no spaces, UTF-8 text (SPEC §4). orjson writes the same text as `json.dumps`
    for every value it takes except floats (its shortest form differs: 1e16 against 1e+16), so
    anything holding a float, a type other than JSON's own or something orjson refuses (an integer
    beyond 64 bits, a lone surrogate) goes through `json.dumps`."""
    return _canonical(obj, parsed=False)


def _canonical(obj: Any, *, parsed: bool, floats: bool = True) -> str:
    """`parsed`: obj comes from json.loads (JSON's own types only), so only floats need a guard;
    `floats=False`: the parse found none (the bundle reader's `parse_json`), so none is looked for."""
    if parsed or _plain(obj):
        try:
            text = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError
            pass
        else:
            if not parsed or not floats or not has_float(obj):
                return text
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def has_float(obj: Any) -> bool:
    """Whether a parsed JSON value holds a float anywhere (the one type whose text orjson writes
    differently, and whose parse the bundle reader leaves to the json module)."""
    stack = [obj]
    while stack:
        x = stack.pop()
        if type(x) is dict:
            stack.extend(x.values())
        elif type(x) is list:
            stack.extend(x)
        elif type(x) is float:
            return True
    return False


def _plain(obj: object) -> bool:
    """Only dicts with str keys, lists, str, int, bool and None, each of exactly that type."""
    if type(obj) is dict:
        for k, x in obj.items():
            if type(k) is not str or not (
                type(x) is str or type(x) is int or type(x) is bool or x is None or _plain(x)
            ):
                return False
        return True
    if type(obj) is list:
        for x in obj:
            if not (type(x) is str or type(x) is int or type(x) is bool or x is None or _plain(x)):
                return False
        return True
    return False


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
        """The payload's canonical JSON, as hashed and as stored (read from the private values
        directly: pydantic's __getattr__ for a private attribute cost ~1% of a merge's CPU)."""
        private = self.__pydantic_private__
        return private["_payload_json"] if private else ""

    def record(self, context: ValidationContext | None = None) -> Record:
        """The payload checked with the rules of its own payload schema (SPEC §3 v2)."""
        return validate_record(self.kind, self.payload, schema=self.payload_schema, context=context)


_FIELDS = frozenset(Version.model_fields)
_NEEDED = frozenset(n for n, f in Version.model_fields.items() if f.is_required())
_KINDS = frozenset(get_args(Kind))
_DEFAULTS: dict[str, Any] = {"parent_version_id": None, "also_parents": [], "payload_schema": 1}
# the canonical forms only: what the model's validators return unchanged (a UUID already stripped
# and lower-case, ASCII digits, no trailing newline, which `$` and `\d` would let through)
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HLC = re.compile(r"[0-9]{13}-[0-9]{5}")
_SHA = re.compile(r"[0-9a-f]{64}")


def _is_id(v: object) -> bool:
    return type(v) is str and _ID.fullmatch(v) is not None


def _fields_ok(data: dict[str, Any]) -> bool:
    """Every field of exactly its JSON type and in the form the model would keep unchanged."""
    keys = data.keys()
    if not (_NEEDED <= keys <= _FIELDS):
        return False
    also = data.get("also_parents", [])
    parent = data.get("parent_version_id")
    schema = data.get("payload_schema", 1)
    hlc, sha = data["hlc"], data["content_hash"]
    return (
        type(data["kind"]) is str
        and data["kind"] in _KINDS
        and _is_id(data["record_id"])
        and _is_id(data["version_id"])
        and _is_id(data["device_id"])
        and (parent is None or _is_id(parent))
        and type(hlc) is str
        and _HLC.fullmatch(hlc) is not None
        and type(data["deleted"]) is bool
        and type(sha) is str
        and _SHA.fullmatch(sha) is not None
        and type(data["payload"]) is dict
        and type(also) is list
        and len(also) <= MAX_ALSO_PARENTS
        and all(_is_id(p) for p in also)
        and type(schema) is int
        and schema in (1, 2)
    )


def fast_version(data: dict[str, Any], floats: bool = True) -> Version | None:
    """The envelope of a line checked by compiled patterns: the same Version the model builds,
    when every field is already in its final form and every rule holds. None whenever anything
    is unusual or wrong; the model then decides and explains (validate_version)."""
    if not _fields_ok(data):
        return None
    vid, parent = data["version_id"], data.get("parent_version_id")
    also: list[str] = data.get("also_parents", [])
    if parent == vid or vid in also or parent in also or len(set(also)) != len(also):
        return None
    payload_json = _canonical(data["payload"], parsed=True, floats=floats)
    try:
        if content_hash_of(data["deleted"], payload_json) != data["content_hash"]:
            return None
    except UnicodeEncodeError:  # a lone surrogate: the model refuses it with its reason
        return None
    # what Version.model_construct sets, without its per-field bookkeeping (a test compares the
    # result with the model's, field by field and as dumped)
    v = Version.__new__(Version)
    object.__setattr__(v, "__dict__", _DEFAULTS | data)
    object.__setattr__(v, "__pydantic_fields_set__", set(data))
    object.__setattr__(v, "__pydantic_extra__", None)
    object.__setattr__(v, "__pydantic_private__", {"_payload_json": payload_json})
    return v


def validate_version(
    data: dict[str, Any],
    *,
    context: ValidationContext | None = None,
    fast: bool = True,
    floats: bool = True,
) -> tuple[Version, Record]:
    """Envelope and payload, as the merge and the bundle reader need them. The payload follows the
    rules of the line's `payload_schema` (absent: 1); "today" is `context.today` (the merge passes
    the day after the bundle's signed created_at), else the local date. `data` holds JSON's own
    types (a parsed line, a model_dump(mode="json")), which `fast_version` relies on; `fast=False`
    skips it (the tests compare both); `floats=False` says `data` holds no float (the bundle
    reader's parse found none), so its payload's canonical JSON is not searched for one."""
    v = fast_version(data, floats) if fast else None
    if v is None:
        try:
            v = Version.model_validate(data)
        except ValidationError as e:
            raise RecordInvalid(str(data.get("kind", "?")), explain(e, Version)) from None
    return v, v.record(context)
