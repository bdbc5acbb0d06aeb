"""Durable after-commit events: a durable listener hears every committed event at least once,
through failures and lost tasks, and never hears a rolled-back one."""

from __future__ import annotations

import types

import pytest
from sqlalchemy import func, select

from commerce_kernel import Compose, Plugin, PluginError, durable, hookimpl, hookspec
from commerce_kernel.events import EventDelivery, redeliver
from commerce_kernel.hooks import Hooks
from commerce_kernel.plugins import LoadedPlugin
from commerce_kernel.tasks import TaskContext
from tests.helpers import ledger


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [ledger, ledger.ordinary, ledger.erp, ledger.picky]


@pytest.fixture(autouse=True)
def _reset():
    for seen in ledger.heard.values():
        seen.clear()
    ledger.failures["left"] = 0


async def book(kernel, entry, *, announce=True):
    """Record an event with its fact; committed through `kernel.db.transaction()` it is
    announced by the commit. `announce=False`: the process died between commit and announce
    (a session committed by hand, whose after-commit step never ran)."""
    if announce:
        async with kernel.db.transaction() as session:
            return await kernel.events.record(session, ledger.entry_booked, entry=entry)
    async with kernel.db.session() as session, session.begin():
        return await kernel.events.record(session, ledger.entry_booked, entry=entry)


async def pending(kernel) -> int:
    async with kernel.db.session() as session:
        return (
            await session.execute(
                select(func.count())
                .select_from(EventDelivery)
                .where(EventDelivery.delivered_at.is_(None))
            )
        ).scalar_one()


async def test_ordinary_listeners_hear_it_at_once_and_durable_ones_through_a_task(
    kernel, run_tasks
):
    assert kernel.hooks.durable_listeners(ledger.entry_booked) == ["ledger_erp", "ledger_picky"]
    assert kernel.hooks.implementers(ledger.entry_booked) == ["ledger_ordinary"]
    event = await book(kernel, {"amount": "12.50"})
    assert ledger.heard["ordinary"] == [(event.event_id, {"amount": "12.50"})]
    await run_tasks()
    assert ledger.heard["erp"] == [(event.event_id, {"amount": "12.50"})]
    assert await pending(kernel) == 0


async def test_an_event_is_announced_once_when_its_transaction_commits(kernel, run_tasks):
    async with kernel.db.transaction() as session:
        event = await kernel.events.record(session, ledger.entry_booked, entry={"amount": "2"})
        assert ledger.heard["ordinary"] == []  # not before the commit
    assert ledger.heard["ordinary"] == [(event.event_id, {"amount": "2"})]
    await kernel.events.announce(event)  # by hand as well: still once
    await run_tasks()
    assert ledger.heard["ordinary"] == [(event.event_id, {"amount": "2"})]
    assert ledger.heard["erp"] == [(event.event_id, {"amount": "2"})]


async def test_an_event_recorded_by_a_hook_in_anothers_transaction_is_announced_at_its_commit(
    kernel, run_tasks
):
    async def inner(session):  # what a hook implementation called inside it would do
        await kernel.events.record(session, ledger.entry_booked, entry={"amount": "4"})

    async with kernel.db.transaction() as session:
        await inner(session)
    assert [payload for _, payload in ledger.heard["ordinary"]] == [{"amount": "4"}]


async def delivered_to(kernel, plugin: str) -> list[str]:
    async with kernel.db.session() as session:
        return list(
            await session.scalars(
                select(EventDelivery.event_id)
                .where(EventDelivery.plugin == plugin)
                .order_by(EventDelivery.id)
            )
        )


async def test_a_durable_listener_that_declines_an_event_gets_no_delivery(kernel, run_tasks):
    """`@durable(wanted=...)`: asked in the fact's transaction; a "no" writes no row, so
    neither the task nor the redelivery job ever calls it; an undecided answer is a yes."""
    plain = await book(kernel, {"amount": "5"})
    wanted = await book(kernel, {"amount": "6", "picky": True})
    undecided = await book(kernel, {"amount": "7", "undecided": True})
    assert ledger.heard["asked"] == [
        (plain.event_id, True),
        (wanted.event_id, True),
        (undecided.event_id, True),
    ]
    assert len(plain.deliveries) == 1  # ledger_erp's only
    await run_tasks()
    assert (
        await redeliver(TaskContext(kernel, "cron:kernel.redeliver_events", 1), older_than=0) == 0
    )
    await run_tasks()
    # Delivered in any order (the queue runs them side by side).
    assert sorted(e for e, _ in ledger.heard["picky"]) == sorted(
        [wanted.event_id, undecided.event_id]
    )
    assert {e for e, _ in ledger.heard["erp"]} == {
        plain.event_id,
        wanted.event_id,
        undecided.event_id,
    }  # the other durable listener hears every one
    assert plain.event_id not in await delivered_to(kernel, "ledger_picky")


async def test_a_failing_durable_listener_is_retried_with_the_same_event_id(kernel, run_tasks):
    ledger.failures["left"] = 2
    event = await book(kernel, {"amount": "1.00"})
    await run_tasks()
    assert ledger.heard["tries"] == [event.event_id] * 3
    assert ledger.heard["erp"] == [(event.event_id, {"amount": "1.00"})]
    async with kernel.db.session() as session:
        row = (await session.execute(select(EventDelivery))).scalar_one()
    assert row.attempts == 3 and row.delivered_at is not None


async def test_a_rolled_back_fact_announces_nothing(kernel, run_tasks):
    with pytest.raises(RuntimeError):
        async with kernel.db.transaction() as session:
            await kernel.events.record(session, ledger.entry_booked, entry={"amount": "9"})
            raise RuntimeError("the fact failed")
    await run_tasks()
    assert await pending(kernel) == 0
    assert ledger.heard["erp"] == [] and ledger.heard["tries"] == []


async def test_a_lost_delivery_is_queued_again_by_the_cron_job(kernel, run_tasks):
    # The process died between commit and announce (or Redis was down): only the row is left.
    event = await book(kernel, {"amount": "3"}, announce=False)
    assert await pending(kernel) == 1
    ctx = TaskContext(kernel, "cron:kernel.redeliver_events", 1)
    assert await redeliver(ctx) == 0  # too young: its own task may still be on its way
    assert await redeliver(ctx, older_than=0) == 1
    await run_tasks()
    assert ledger.heard["erp"] == [(event.event_id, {"amount": "3"})]
    assert await redeliver(ctx, older_than=0) == 0
    assert ledger.heard["ordinary"] == []  # ordinary listeners are best effort, in-request


async def test_a_queue_outage_at_announce_loses_nothing(
    kernel, run_tasks, monkeypatch, redeliver_events
):
    async def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    with monkeypatch.context() as m:
        m.setattr(kernel.queue, "enqueue", down)
        event = await book(kernel, {"amount": "4"})
    assert ledger.heard["ordinary"] == [(event.event_id, {"amount": "4"})]
    assert await redeliver_events() == 1
    await run_tasks()
    assert ledger.heard["erp"] == [(event.event_id, {"amount": "4"})]


async def test_only_an_isolated_broadcast_can_have_durable_listeners():
    specs = types.ModuleType("choice_specs")

    @hookspec(Compose.FIRST)
    async def choose(x: int) -> int | None: ...

    specs.choose = choose
    owner = types.ModuleType("owner")
    owner.plugin = Plugin(name="owner", version="1", hookspecs=specs)
    listener = types.ModuleType("listener")
    listener.plugin = Plugin(name="listener", version="1")
    listener.choose = durable(hookimpl(lambda x: x))
    with pytest.raises(PluginError, match="only an after-commit event"):  # at start-up
        Hooks.build([LoadedPlugin(owner.plugin, owner), LoadedPlugin(listener.plugin, listener)])


async def test_deliveries_are_written_at_commit_and_a_rollback_drops_them(kernel, run_tasks):
    """The rows wait for the commit (so all of a transaction's events share one INSERT); a
    session rolled back and used again writes only what it then commits."""
    before = await pending(kernel)
    async with kernel.db.session() as session:
        dropped = await kernel.events.record(session, ledger.entry_booked, entry={"n": 1})
        await session.rollback()
        kept = [
            await kernel.events.record(session, ledger.entry_booked, entry={"n": n}) for n in (2, 3)
        ]
        assert await pending(kernel) == before  # nothing written before the commit
        await session.commit()
    assert dropped.deliveries == [None]  # never written
    assert all(len(e.deliveries) == 1 and e.deliveries[0] is not None for e in kept)
    assert await pending(kernel) == before + 2
    for event in kept:
        await kernel.events.announce(event)
    await run_tasks()
    assert sorted(e["n"] for _, e in ledger.heard["erp"]) == [2, 3]  # in any order


async def test_an_event_recorded_in_a_rolled_back_savepoint_is_not_written(kernel, run_tasks):
    async with kernel.db.transaction() as session:
        outer = await kernel.events.record(session, ledger.entry_booked, entry={"n": "outer"})
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                inner = await kernel.events.record(
                    session, ledger.entry_booked, entry={"n": "inner"}
                )
                raise RuntimeError("the savepoint's part failed")
    # Counted by event, delivered or not: on the embedded default the in-process queue may
    # already have delivered the outer one (its task starts as the transaction commits).
    async with kernel.db.session() as session:
        written = (
            await session.execute(
                select(EventDelivery.event_id, func.count())
                .where(EventDelivery.event_id.in_([outer.event_id, inner.event_id]))
                .group_by(EventDelivery.event_id)
            )
        ).all()
    assert dict(written) == {outer.event_id: 1}
    assert outer.deliveries[0] is not None and inner.deliveries == [None]
    await run_tasks()
    assert [e for _, e in ledger.heard["erp"]] == [{"n": "outer"}]
    assert [e for _, e in ledger.heard["ordinary"]] == [{"n": "outer"}]  # announced: outer only
