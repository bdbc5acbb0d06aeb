"""Every hook composes as its spec declares, with sync and async implementations alike."""

import pytest

from commerce_kernel import Compose, hookspec
from tests.helpers import probe, probe_more

specs = probe.specs


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe, probe_more]


async def test_collect_flattens_in_plugin_order(kernel):
    assert kernel.hooks.call_sync(specs.probe_collect) == ["probe-1", "probe-2", "more"]
    # A plain-function spec may be called from async code too.
    assert await kernel.hooks.call(specs.probe_collect) == ["probe-1", "probe-2", "more"]


async def test_first_result_skips_none_and_awaits(kernel):
    assert await kernel.hooks.call(specs.probe_first, x=7) == "more:7"
    assert await kernel.hooks.call(specs.probe_first, 7) == "more:7"  # positional, as typed


async def test_pipeline_threads_the_value_and_none_means_unchanged(kernel):
    assert await kernel.hooks.call(specs.probe_pipeline, value=["start"]) == ["start", "probe"]


async def test_strategy_is_replaced_by_the_later_plugin(kernel):
    assert await kernel.hooks.call(specs.probe_strategy) == "replacement"
    assert kernel.hooks.implementers(specs.probe_strategy) == ["probe_more"]


async def test_broadcast_calls_everyone_in_order_and_a_reverse_spec_backwards(kernel):
    seen: list[str] = []
    await kernel.hooks.call(specs.probe_broadcast, seen=seen)
    await kernel.hooks.call(specs.probe_farewell, seen=seen)
    assert seen == ["probe", "more", "more", "probe"]


async def test_plugins_are_listed_with_their_hooks(kernel):
    assert kernel.hooks.hooks_of("probe_more") == sorted(
        {
            "probe_collect",
            "probe_first",
            "probe_pipeline",
            "probe_strategy",
            "probe_broadcast",
            "probe_farewell",
            "probe_announce",
        }
    )


async def test_isolated_broadcast_reaches_everyone_despite_a_failure(kernel, caplog):
    seen: list[str] = []
    await kernel.hooks.call(specs.probe_announce, seen=seen)
    assert seen == ["more heard it"]
    assert "plugin 'probe' failed in probe_announce" in caplog.text


async def test_a_function_that_is_no_spec_of_these_plugins_is_refused(kernel):
    async def probe_first(x: int) -> str | None:  # same name, not the registered spec
        return None

    with pytest.raises(LookupError, match="is not a hook spec"):
        await kernel.hooks.call(probe_first, x=1)


async def test_only_broadcast_hooks_can_isolate_failures():
    with pytest.raises(ValueError, match="only a BROADCAST hook can isolate"):
        hookspec(Compose.FIRST, isolate=True)
