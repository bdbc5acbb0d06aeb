"""Product search: every term a case-insensitive substring of the name, SKU or description.

Both backends compare case-folded text exactly (`search_text`, byte-wise collation) and use
an index to find candidates first:

- SQLite: an FTS5 trigram table over `search_text`; a term of three characters or more is a
  phrase query there, which already means "substring". Shorter terms rely on the recheck.
- MariaDB: FULLTEXT indexes words, not substrings, so `search_tokens` holds every suffix of
  every word (a substring of a word is a prefix of one of its suffixes), and the longest run
  of letters and digits of each term becomes a prefix query (`+tok*`). Letters outside
  a-z/0-9 are spelled `_` + base-36 code point, so the server's tokenizer never splits them
  differently. Terms without a run of three characters rely on the recheck.

Candidates are then rechecked with `instr(search_text, term)`, so the index only has to
be a superset: the answer is exactly the substring semantics on both backends.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, func, literal_column, select, text, true
from sqlalchemy.dialects.mysql import match

from commerce_catalog.models import Product

MAX_TOKEN = 24  # characters of a suffix kept in the FULLTEXT index (prefix queries get cut too)
MIN_TOKEN = 3  # MariaDB's innodb_ft_min_token_size default; shorter runs are not indexed
MIN_TRIGRAM = 3


def fold(value: str) -> str:
    """Case-insensitive form for matching (Unicode case folding, canonical composition)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


def terms(search: str) -> list[str]:
    """The whitespace-separated terms of a query, folded and de-duplicated, in order."""
    out: list[str] = []
    for term in fold(search).split():
        if term not in out:
            out.append(term)
    return out


def search_text(sku: str, name: str, description: str) -> str:
    # Newlines separate the fields: a term never contains whitespace, so it cannot match
    # across two fields.
    return "\n".join((fold(name), fold(sku), fold(description)))


def _spell(ch: str) -> str:
    if ("a" <= ch <= "z") or ("0" <= ch <= "9"):
        return ch
    return "_" + _base36(ord(ch))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def runs(folded: str) -> list[str]:
    """Maximal runs of letters and digits."""
    out: list[str] = []
    current: list[str] = []
    for ch in folded:
        if ch.isalnum():
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def search_tokens(text_folded: str) -> str:
    """Every indexable suffix of every word, spelled for the FULLTEXT tokenizer."""
    tokens: set[str] = set()
    for run in runs(text_folded):
        spelled = [_spell(ch) for ch in run]
        for i in range(len(spelled)):
            token = "".join(spelled[i:])[:MAX_TOKEN]
            if len(token) < MIN_TOKEN:
                break
            tokens.add(token)
    return " ".join(sorted(tokens))


def search_columns(sku: str, name: str, description: str, mysql: bool) -> dict[str, str]:
    folded = search_text(sku, name, description)
    return {"search_text": folded, "search_tokens": search_tokens(folded) if mysql else ""}


def _prefix_queries(term: str) -> list[str]:
    """The FULLTEXT prefix query of a term: its longest run of letters and digits (the most
    selective one; `sku` of `sku-0099999` would match every product). Any run would do for
    correctness, since the recheck decides."""
    spelled = ["".join(_spell(ch) for ch in run)[:MAX_TOKEN] for run in runs(term)]
    spelled = [s for s in spelled if len(s) >= MIN_TOKEN]
    if not spelled:
        return []
    return [f"+{max(spelled, key=len)}*"]


def condition(search: str, mysql: bool) -> ColumnElement[bool]:
    """A WHERE clause: every term of `search` occurs in the name, SKU or description."""
    wanted = terms(search)
    if not wanted:
        return true()
    recheck = [func.instr(Product.search_text, term) > 0 for term in wanted]
    if mysql:
        queries = [q for term in wanted for q in _prefix_queries(term)]
        if queries:
            ft = match(Product.search_tokens.expression, against=" ".join(dict.fromkeys(queries)))
            return and_(ft.in_boolean_mode(), *recheck)
        return and_(*recheck)
    long_terms = [t for t in wanted if len(t) >= MIN_TRIGRAM]
    if long_terms:
        phrase = " ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
        candidates = (
            select(literal_column("rowid", Integer))
            .select_from(text("products_fts"))
            .where(text("products_fts MATCH :fts_query").bindparams(fts_query=phrase))
        )
        return and_(Product.id.in_(candidates), *recheck)
    return and_(*recheck)


def explain_terms(search: str) -> dict[str, Any]:
    """What the index is asked for each term (for the benchmark's report)."""
    return {
        t: {"mariadb": _prefix_queries(t), "sqlite_trigram": len(t) >= MIN_TRIGRAM}
        for t in terms(search)
    }
