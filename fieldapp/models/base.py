"""The base of the eight record kinds: strict fields, blanks read as empty, a version payload."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from fieldapp.models.fields import blank_to_none


class Record(BaseModel):
    """Common behaviour of the record kinds: strict fields, blanks are empty, rules on the model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=False)
    KIND: ClassVar[str]
    LABEL: ClassVar[tuple[str, str]]

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: blank_to_none(v) for k, v in data.items()}
        return data

    def payload(self) -> dict[str, Any]:
        """The record's fields as they go into a version and a bundle (SPEC §5)."""
        return self.model_dump(mode="json")
