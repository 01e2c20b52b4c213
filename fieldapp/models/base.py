"""The base of the eight record kinds: strict fields, blanks read as empty, payload schemas 1 and 2."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from fieldapp.models.rules import SCHEMA_VERSION, Broken, rule, schema_of


class Record(BaseModel):
    """Common behaviour of the record kinds: strict fields, blanks are empty, rules on the model.

    One model per kind checks both payload schemas (SPEC §3 v2): `V2_FIELDS` are the fields that
    schema 2 added to the kind, refused in a schema 1 payload (whose rules stay today's) and left
    out when a schema 1 record is written back, so its payload and hash never change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=False)
    KIND: ClassVar[str]
    LABEL: ClassVar[tuple[str, str]]
    V2_FIELDS: ClassVar[tuple[str, ...]] = ()
    # the payload schema it was validated under sits in __pydantic_private__ ('_schema'), not in
    # a declared PrivateAttr: pydantic initialises declared ones on every model it builds, and
    # reads them through a probe that raises AttributeError each time (issue 20: ~10% of a merge's
    # record validation)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict):  # fields.blank_to_none, written out (a merge validates 400,000)
            blank = [k for k, v in data.items() if isinstance(v, str) and not v.strip()]
            if blank:  # a new dict (the caller's is never changed), in the same order
                data = data | dict.fromkeys(blank)
            if schema_of(info) == 1:
                for name in cls.V2_FIELDS:
                    if name in data:
                        raise rule(
                            name,
                            "不是载荷结构1的字段（结构2才有）",
                            "is not a field of payload schema 1 (schema 2 added it)",
                        )
        return data

    @model_validator(mode="after")
    def _schema_rules(self, info: ValidationInfo) -> Record:
        schema = schema_of(info)
        private = self.__pydantic_private__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        private["_schema"] = schema
        if (
            schema >= 2
            and "community_code" in type(self).__pydantic_fields__
            and getattr(self, "community_code", None) is None
        ):
            broken = Broken()
            broken.add("community_code", "必填（社区代码）", "is required (payload schema 2)")
            broken.report()  # with the kind's own rules, not before them
        return self

    @property
    def payload_schema(self) -> int:
        """The payload schema this record was validated under (1: history written before v2)."""
        return self._schema_of()

    def _schema_of(self) -> int:
        private = self.__pydantic_private__
        return SCHEMA_VERSION if private is None else int(private.get("_schema", SCHEMA_VERSION))

    def payload(self) -> dict[str, Any]:
        """The record's fields as they go into a version and a bundle (SPEC §5)."""
        if self._schema_of() == 1:
            return self.model_dump(mode="json", exclude=set(self.V2_FIELDS))
        # model_dump(mode="json") without its Python wrapper (a merge dumps every record)
        return self.__pydantic_serializer__.to_python(self, mode="json")  # type: ignore[no-any-return]
