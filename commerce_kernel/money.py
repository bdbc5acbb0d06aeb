"""Money as exact decimals: parsed from strings, checked against the currency's minor digits."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# ISO 4217 minor units for the currencies that differ from 2.
_MINOR_DIGITS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "IQD": 3,
    "LYD": 3,
}

MAX_DIGITS = 12  # Numeric(14, 2)-style columns: up to 10**12 before the point


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def parse_money(value: Any, currency: str = "USD", *, allow_negative: bool = False) -> Decimal:
    """A Decimal from "19.99" (or an int); more digits than the currency has → ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError('must be a decimal string such as "19.99"')
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError('must be a decimal string such as "19.99"') from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    if abs(amount) >= Decimal(10) ** MAX_DIGITS:
        # Before quantizing: a huge amount has more digits than the decimal context holds.
        raise ValueError("is too large")
    digits = minor_digits(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > digits and amount != amount.quantize(quantum(currency)):
        raise ValueError(f"has more than {digits} decimal places for {currency}")
    if amount < 0 and not allow_negative:
        raise ValueError("must not be negative")
    if amount == 0:
        amount = abs(amount)  # "-0" is zero, never shown as "-0.00"
    return amount.quantize(quantum(currency))


def format_money(amount: Decimal, currency: str = "USD") -> str:
    return str(amount.quantize(quantum(currency), rounding=ROUND_HALF_UP))


def _validate(value: Any) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return parse_money(value, allow_negative=True)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # JSON 19.99 arrives as a float that is not 19.99: amounts travel as strings.
        raise ValueError(f'must be a decimal string such as "19.99", not the JSON number {value!r}')
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        # As the schema's pattern says: no exponent ("1e3"), no spaces, no "NaN".
        raise ValueError('must be a decimal string such as "19.99"')
    return parse_money(value)


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


Money = Annotated[
    Decimal,
    BeforeValidator(_validate),
    PlainSerializer(lambda d: format_money(d), return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["19.99"]}),
]
"""A money amount in the deployment currency (two minor digits unless configured otherwise)."""
