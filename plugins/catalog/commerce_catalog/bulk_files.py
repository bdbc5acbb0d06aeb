"""Reading bulk-upload files: the format, numbered data rows, stored chunks, and the checks
of one row's values."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import ijson
import orjson

from commerce_catalog.schemas import normalize_description, normalize_name, normalize_sku
from commerce_kernel.errors import PayloadTooLarge, UnprocessableEntity
from commerce_kernel.money import parse_money

COLUMNS = ("sku", "name", "description", "price", "stock", "is_active")

_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}
_WHOLE = re.compile(r"^\s*\+?\d+\s*$")


class FileError(UnprocessableEntity):
    """The upload as a whole cannot be read (422, nothing is queued)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[{"loc": ["body", "file"], "msg": message}])


# --- reading files ----------------------------------------------------------------------


def detect_format(head: bytes, filename: str = "", content_type: str = "") -> str:
    """ "json" (an array), "jsonl" or "csv": by the first character, else name and type."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if content_type.split(";")[0].strip() == "application/json":
        # The contract's JSON form is an array; JSON lines have their own media types.
        raise FileError(
            "An application/json upload is a JSON array of products; send JSON lines as "
            "application/x-ndjson."
        )
    if text.startswith(b"{"):
        return "jsonl"
    name = filename.lower()
    if name.endswith((".json", ".jsonl", ".ndjson")) or "json" in content_type:
        raise FileError("The file is neither a JSON array nor JSON lines.")
    return "csv"


@dataclass
class ParsedRow:
    row: int
    values: dict[str, Any] | None  # None: the row could not be read at all
    problem: str = ""


@contextmanager
def _text(file: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    wrapper = io.TextIOWrapper(file, encoding="utf-8-sig", newline="", errors="strict")
    try:
        yield wrapper
    finally:
        # Detach, or closing the wrapper would close the caller's file.
        wrapper.detach()


def _csv_rows(file: IO[bytes]) -> Iterator[ParsedRow]:
    with _text(file) as text:
        yield from _csv_records(csv.reader(text))


def _csv_records(reader: Any) -> Iterator[ParsedRow]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileError(f"The CSV header cannot be read: {exc}") from None
    if header is None:
        raise FileError("The file is empty.")
    names = [h.strip().lower() for h in header]
    if "sku" not in names:
        raise FileError("The CSV header has no `sku` column.")
    wanted = [(i, n) for i, n in enumerate(names) if n in COLUMNS]
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield ParsedRow(number, None, f"unreadable CSV row: {exc}")
            continue
        number += 1
        if not any(c.strip() for c in cells):
            continue  # a blank line keeps its number but is not a row
        values: dict[str, Any] = {}
        for i, name in wanted:
            if i < len(cells) and (cells[i].strip() != "" or name == "description"):
                values[name] = cells[i]
        yield ParsedRow(number, values)


def _plain(value: Any) -> Any:
    # The streaming parser reads a JSON number with a fraction or exponent as an exact
    # Decimal: whole ones become ints, the others their decimal text (a price stays exact).
    # Nested values too, and integers past 64 bits as text: the chunk is stored as JSON.
    if isinstance(value, Decimal):
        value = (
            int(value) if value.is_finite() and value == value.to_integral_value() else str(value)
        )
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _object(number: int, item: Any) -> ParsedRow:
    if not isinstance(item, dict):
        return ParsedRow(number, None, "each row must be a JSON object")
    values = {}
    for key, value in item.items():
        name = str(key).strip().lower()
        if name in COLUMNS and value is not None:
            values[name] = _plain(value)
    return ParsedRow(number, values)


def _json_rows(file: IO[bytes]) -> Iterator[ParsedRow]:
    """The items of a JSON array, read as a stream (never the whole file at once)."""
    number = 0
    try:
        for item in ijson.items(file, "item"):
            number += 1
            yield _object(number, item)
    except ijson.JSONError as exc:
        raise FileError(f"The file is not valid JSON: {exc}") from None


def _jsonl_rows(file: IO[bytes]) -> Iterator[ParsedRow]:
    number = 0
    with _text(file) as text:
        for line in text:
            number += 1
            parsed = _jsonl_row(number, line)
            if parsed is not None:
                yield parsed


def _jsonl_row(number: int, line: str) -> ParsedRow | None:
    if not line.strip():
        return None  # a blank line keeps its number but is not a row
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ParsedRow(number, None, "this line is not valid JSON")
    return _object(number, item)


def read_rows(file: IO[bytes], fmt: str) -> Iterator[ParsedRow]:
    """The data rows of an upload, numbered from 1 (a CSV header is not counted)."""
    try:
        if fmt == "json":
            yield from _json_rows(file)
        elif fmt == "jsonl":
            yield from _jsonl_rows(file)
        else:
            yield from _csv_rows(file)
    except UnicodeDecodeError:
        raise FileError("The file is not UTF-8 text.") from None


def sku_of(values: dict[str, Any] | None) -> str | None:
    if not values or "sku" not in values:
        return None
    try:
        return normalize_sku(str(values["sku"]))
    except ValueError:
        return None


@dataclass
class Scanned:
    """The first pass over a file: its data rows and the last row of every SKU."""

    format: str
    total: int = 0
    last: dict[str, int] = field(default_factory=dict)


def scan(file: IO[bytes], fmt: str, max_rows: int) -> Scanned:
    """Read the whole file once as a stream: refuse it (nothing stored) if it cannot be
    read or has more than `max_rows` data rows; note where each SKU last appears. Memory
    grows with the number of distinct SKUs, not with the file. Runs in a thread."""
    out = Scanned(fmt)
    for parsed in read_rows(file, fmt):
        out.total += 1
        if out.total > max_rows:
            raise PayloadTooLarge(
                f"The file has more than {max_rows} data rows (CATALOG_BULK_MAX_ROWS): "
                "split it into several uploads."
            )
        sku = sku_of(parsed.values)
        if sku is not None:
            out.last[sku] = parsed.row
    return out


def chunks(file: IO[bytes], scanned: Scanned, chunk_rows: int) -> Iterator[tuple[int, bytes]]:
    """The second pass: the stored chunks, `(rows, JSON)` each, cut as the file is read
    (each row marked with the later row of its SKU that supersedes it, if any)."""
    batch: list[list[Any]] = []
    for parsed in read_rows(file, scanned.format):
        sku = sku_of(parsed.values)
        winner = scanned.last.get(sku) if sku is not None else None
        superseded = winner if winner is not None and winner != parsed.row else None
        batch.append([parsed.row, parsed.values, superseded, parsed.problem])
        if len(batch) >= chunk_rows:
            yield len(batch), orjson.dumps(batch)
            batch = []
    if batch:
        yield len(batch), orjson.dumps(batch)


@dataclass
class RowResult:
    row: int
    sku: str | None
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.match(value):
        number = int(value)
    else:
        raise ValueError("must be a whole number")
    if number < 0:
        raise ValueError("must not be negative")
    if number > 2_000_000_000:
        raise ValueError("is too large")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("must be a string")


def validate_row(row: int, raw: dict[str, Any], currency: str) -> RowResult:
    """Normalised values of one row, or its field errors."""
    result = RowResult(row, None)

    def check(name: str, convert: Any) -> None:
        if name not in raw:
            return
        try:
            result.values[name] = convert(raw[name])
        except ValueError as exc:
            result.errors.append({"field": name, "message": str(exc)})

    check("sku", lambda v: normalize_sku(_string(v)))
    if "sku" not in raw:
        result.errors.append({"field": "sku", "message": "is required"})
    result.sku = result.values.get("sku") or (str(raw["sku"]).strip() if "sku" in raw else None)
    check("name", lambda v: normalize_name(_string(v)))
    check("description", lambda v: normalize_description(_string(v)))
    check("price", lambda v: parse_money(v, currency))
    check("stock", _whole)
    check("is_active", _flag)
    return result
