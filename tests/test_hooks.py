"""Every hook composes as its spec declares, with sync and async implementations alike."""

import pytest

from tests.helpers import probe, probe_more


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe, probe_more]


async def test_collect_flattens_in_plugin_order(kernel):
    assert kernel.hooks.call_sync("probe_collect") == ["probe-1", "probe-2", "more"]
    assert await kernel.hooks.call("probe_collect") == ["probe-1", "probe-2", "more"]


async def test_first_result_skips_none_and_awaits(kernel):
    assert await kernel.hooks.call("probe_first", x=7) == "more:7"


async def test_pipeline_threads_the_value_and_none_means_unchanged(kernel):
    assert await kernel.hooks.call("probe_pipeline", value=["start"]) == ["start", "probe"]


async def test_strategy_is_replaced_by_the_later_plugin(kernel):
    assert await kernel.hooks.call("probe_strategy") == "replacement"


async def test_broadcast_calls_everyone_in_order_and_reverse(kernel):
    seen: list[str] = []
    await kernel.hooks.call("probe_broadcast", seen=seen)
    await kernel.hooks.call("probe_broadcast", reverse=True, seen=seen)
    assert seen == ["probe", "more", "more", "probe"]


async def test_plugins_are_listed_with_their_hooks(kernel):
    more = next(p for p in kernel.plugins if p.info.name == "probe_more")
    assert set(more.hooks) == {
        "probe_collect",
        "probe_first",
        "probe_pipeline",
        "probe_strategy",
        "probe_broadcast",
        "probe_announce",
    }


async def test_isolated_broadcast_reaches_everyone_despite_a_failure(kernel, caplog):
    seen: list[str] = []
    await kernel.hooks.call("probe_announce", seen=seen)
    assert seen == ["more heard it"]
    assert "plugin 'probe' failed in probe_announce" in caplog.text


async def test_only_broadcast_hooks_can_isolate_failures():
    import pytest

    from commerce_kernel.plugins import Compose, hookspec

    with pytest.raises(ValueError, match="only a BROADCAST hook can isolate"):
        hookspec(Compose.FIRST, isolate=True)
