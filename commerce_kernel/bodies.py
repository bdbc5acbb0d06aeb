"""Request bodies, validated strictly: what a client meant is never guessed.

`Body` is the base of a request body model: a field the model does not declare is refused
with 422 naming it (a typo such as `qty` would otherwise be ignored and the default used).
`Whole` is an integer as JSON writes one: `true`, `2.5`, `2.0` and `"2"` are refused rather
than coerced. Money (`commerce_kernel.money.Money`) is a decimal string; a JSON number is
refused with a message saying so (a float cannot carry cents exactly).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Strict, model_validator

Whole = Annotated[int, Strict()]


class Body(BaseModel):
    """Base of a request body model: unknown fields are a 422 naming them. A model that
    must accept fields a client sends back from a GET (read-only ones: `id`, timestamps)
    names them in `ignored`; they are dropped before validation."""

    model_config = ConfigDict(extra="forbid")
    ignored: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if cls.ignored and isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.ignored}
        return data


__all__ = ["Body", "Whole"]
