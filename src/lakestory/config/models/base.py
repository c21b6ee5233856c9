"""The strict base model every config model derives from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        validate_assignment=True,
        str_strip_whitespace=False,
    )

    def __eq__(self, other: Any) -> bool:
        # Equal when the fields are: private attributes record where a model came from
        # (its YAML key path), so a project built in Python equals the same one from YAML.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__
