"""Request bodies, validated strictly: what a client meant is never guessed.

`Body` is the base of a request body model: a field the model does not declare is refused
with 422 naming it (a typo such as `qty` would otherwise be ignored and the default used).
`Whole` is an integer as JSON writes one: `true`, `2.5`, `2.0` and `"2"` are refused rather
than coerced. A boolean field of a `Body` takes only `true` and `false` (not `0`, `1`, `"yes"`).
No string of a `Body` holds a control character (NUL, ESC, ...) or a line or paragraph
separator (U+2028, U+2029): they are refused with 422, never stored; fields named in
`multiline` (a description) may hold tabs and line breaks. Money (`commerce_kernel.money.Money`) is a decimal string; a JSON number is
refused with a message saying so (a float cannot carry cents exactly).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Strict, ValidationInfo, field_validator, model_validator

Whole = Annotated[int, Strict()]
_FLAGS = (bool, bool | None)
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
_LINE_BREAKS = frozenset("\t\n\r")


def control_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control character or line/paragraph separator in `text` (None if none)."""
    for ch in text:
        if ch not in allowed and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return ch
    return None


def _refuse_control_characters(value: Any, allowed: frozenset[str]) -> None:
    if isinstance(value, str):
        ch = control_character(value, allowed)
        if ch is not None:
            raise ValueError(f"must not contain control characters (U+{ord(ch):04X})")
    elif isinstance(value, list):
        for item in value:
            _refuse_control_characters(item, allowed)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_control_characters(key, allowed)
            _refuse_control_characters(item, allowed)


class Body(BaseModel):
    """Base of a request body model: unknown fields are a 422 naming them. A model that
    must accept fields a client sends back from a GET (read-only ones: `id`, timestamps)
    names them in `ignored`; they are dropped before validation."""

    model_config = ConfigDict(extra="forbid")
    ignored: ClassVar[frozenset[str]] = frozenset()
    multiline: ClassVar[frozenset[str]] = frozenset({"description"})

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if cls.ignored and isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.ignored}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _strict_values(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic would read 0, 1, "yes" or "off" as a boolean: a client meant something else.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and field.annotation in _FLAGS:
            if value is not None and not isinstance(value, bool):
                raise ValueError("must be true or false")
        # A NUL or an ESC in a name reaches terminals, logs, CSV exports and mail headers.
        multiline = (info.field_name or "") in cls.multiline
        _refuse_control_characters(value, _LINE_BREAKS if multiline else frozenset())
        return value


__all__ = ["Body", "Whole", "control_character"]
