"""Test plugin that implements the probe's hooks after it (it requires probe)."""

from commerce_kernel import Plugin, hookimpl

plugin = Plugin(name="probe_more", version="0.0.1", requires=("probe",))


@hookimpl
def probe_collect() -> str:
    return "more"


@hookimpl
async def probe_first(x: int) -> str:
    return f"more:{x}"


@hookimpl
def probe_pipeline(value: list[str]) -> None:
    return None  # unchanged


@hookimpl
async def probe_strategy() -> str:
    return "replacement"


@hookimpl
async def probe_broadcast(seen: list[str]) -> None:
    seen.append("more")


@hookimpl
def probe_farewell(seen: list[str]) -> None:
    seen.append("more")


@hookimpl
async def probe_announce(seen: list[str]) -> None:
    seen.append("more heard it")
