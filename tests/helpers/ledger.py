"""Test plugins for durable events: `ledger` owns a fact and its event `entry_booked`;
`ledger_ordinary` listens in the request, `ledger_erp` durably (failing its first tries),
`ledger_picky` durably but only wants the entries marked `picky` (`@durable(wanted=...)`)."""

from __future__ import annotations

import types
from typing import Any

from commerce_kernel import Compose, Kernel, Plugin, durable, hookimpl, hookspec

specs = types.ModuleType("ledger_specs")


@hookspec(Compose.BROADCAST, isolate=True)
async def entry_booked(kernel: Kernel, event_id: str, entry: dict[str, Any]) -> None:
    """An entry was booked (after commit)."""


specs.entry_booked = entry_booked
plugin = Plugin(name="ledger", version="0.0.1", hookspecs=specs)

heard: dict[str, list[Any]] = {"ordinary": [], "erp": [], "tries": [], "picky": [], "asked": []}
failures = {"left": 0}


async def _ordinary(kernel: Kernel, event_id: str, entry: dict[str, Any]) -> None:
    heard["ordinary"].append((event_id, entry))


async def _erp(kernel: Kernel, event_id: str, entry: dict[str, Any]) -> None:
    heard["tries"].append(event_id)
    if failures["left"] > 0:
        failures["left"] -= 1
        raise RuntimeError("the ERP is down")
    if all(e != event_id for e, _ in heard["erp"]):  # idempotent by event id
        heard["erp"].append((event_id, entry))


def _listener(name: str, func: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.plugin = Plugin(name=name, version="0.0.1", requires=("ledger",))  # type: ignore[attr-defined]
    module.entry_booked = func  # type: ignore[attr-defined]
    return module


ordinary = _listener("ledger_ordinary", hookimpl(_ordinary))
erp = _listener("ledger_erp", durable(hookimpl(_erp)))


async def _wants(kernel: Kernel, session: Any, event: Any) -> bool:
    """Asked in the fact's transaction; cannot decide an entry marked `undecided`."""
    heard["asked"].append((event.event_id, session.in_transaction()))
    if event.payload["entry"].get("undecided"):
        raise ValueError("cannot tell")
    return bool(event.payload["entry"].get("picky"))


async def _picky(kernel: Kernel, event_id: str, entry: dict[str, Any]) -> None:
    heard["picky"].append((event_id, entry))


picky = _listener("ledger_picky", durable(wanted=_wants)(hookimpl(_picky)))
