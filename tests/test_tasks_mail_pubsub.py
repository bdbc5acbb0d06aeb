"""The task queue (retries, backoff, dedupe), mail delivery and pub/sub, on either backend."""

import asyncio
import contextlib
import email.utils
import time
import types
from datetime import UTC, datetime

import pytest
import redis.asyncio

from commerce_kernel import Plugin, hookimpl
from commerce_kernel.mail import Mail, SMTPMailer
from commerce_kernel.pubsub import GAP, Versioned
from commerce_kernel.tasks import CronJob, GiveUp, Task
from commerce_kernel.testing import cut_pubsub

state: dict = {"calls": {}, "times": {}}

flaky = types.ModuleType("flaky_tasks")
flaky.plugin = Plugin(name="flaky", version="0.0.1")


async def fail_twice(ctx, key: str) -> None:
    calls = state["calls"].setdefault(key, [])
    calls.append(ctx.attempt)
    state["times"].setdefault(key, []).append(time.monotonic())
    if ctx.attempt < 3:
        raise RuntimeError("not yet")


async def always_fails(ctx, key: str) -> None:
    state["calls"].setdefault(key, []).append(ctx.attempt)
    raise RuntimeError("never")


async def gives_up(ctx, key: str) -> None:
    state["calls"].setdefault(key, []).append(ctx.attempt)
    raise GiveUp("pointless")


async def record(ctx, key: str) -> None:
    state["calls"].setdefault(key, []).append(ctx.attempt)


async def slow_first(ctx, key: str) -> None:
    state["calls"].setdefault(key, []).append(ctx.attempt)
    if ctx.attempt == 1:
        await asyncio.sleep(5)  # past the task's timeout


@hookimpl
def tasks(kernel):
    return [
        Task("flaky.slow_first", slow_first, max_tries=3, timeout=0.5, backoff=0.01),
        Task("flaky.fail_twice", fail_twice, max_tries=5, backoff=0.2),
        Task("flaky.always_fails", always_fails, max_tries=3, backoff=0.01),
        Task("flaky.gives_up", gives_up, max_tries=5, backoff=0.01),
        Task("flaky.record", record),
    ]


async def monthly_report(ctx) -> None:
    state["calls"].setdefault("monthly", []).append(ctx.job_id)


@hookimpl
def cron_jobs(kernel):
    return [CronJob("flaky.monthly_report", monthly_report, day=1, hour=3, minute=0)]


flaky.tasks = tasks
flaky.cron_jobs = cron_jobs


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [flaky]


@pytest.fixture(autouse=True)
def _reset():
    state["calls"].clear()
    state["times"].clear()


async def test_failing_task_is_retried_with_growing_backoff(kernel, run_tasks):
    await kernel.queue.enqueue("flaky.fail_twice", "a")
    await run_tasks()
    assert state["calls"]["a"] == [1, 2, 3]
    t = state["times"]["a"]
    assert t[1] - t[0] >= 0.19 and t[2] - t[1] >= 0.39


async def test_task_stops_after_max_tries(kernel, run_tasks):
    await kernel.queue.enqueue("flaky.always_fails", "b")
    await run_tasks()
    assert state["calls"]["b"] == [1, 2, 3]


async def test_a_try_that_times_out_is_retried_on_either_backend(kernel, run_tasks):
    await kernel.queue.enqueue("flaky.slow_first", "slow")
    await run_tasks()
    assert state["calls"]["slow"] == [1, 2]


async def test_give_up_is_not_retried(kernel, run_tasks):
    await kernel.queue.enqueue("flaky.gives_up", "c")
    await run_tasks()
    assert state["calls"]["c"] == [1]


async def test_same_job_id_is_queued_once(kernel, run_tasks):
    first = await kernel.queue.enqueue("flaky.fail_twice", "d", job_id="job-d")
    second = await kernel.queue.enqueue("flaky.fail_twice", "d", job_id="job-d")
    assert first == "job-d" and second is None
    await run_tasks()
    assert state["calls"]["d"] == [1, 2, 3]


async def test_a_worker_that_loses_redis_as_it_starts_a_job_goes_on_and_runs_it(
    kernel, monkeypatch
):
    if not kernel.settings.redis_url:
        pytest.skip("a connection to lose needs Redis (the MariaDB + Redis run)")
    from commerce_kernel.tasks.redis import build_worker, client_name, run_worker

    await kernel.queue.enqueue("flaky.record", "w")
    worker = build_worker(kernel, burst=True)
    name = client_name(kernel.settings.redis_prefix)
    cuts: list[int] = []
    real_pipeline = worker.pool.pipeline

    def pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        if cuts:
            return pipe
        real_exists = pipe.exists

        async def exists(*keys):
            answer = await real_exists(*keys)
            # Between the worker's WATCH and its next read, the server closes this
            # deployment's connections, as a Redis restart would (redis-py then raises
            # WatchError, not ConnectionError, which once stopped `commerce worker` for good).
            async with redis.asyncio.Redis.from_url(kernel.settings.redis_url) as other:
                for c in await other.client_list(_type="normal"):
                    if c.get("name") == name:
                        cuts.append(await other.client_kill_filter(_id=c["id"]))
            return answer

        pipe.exists = exists
        return pipe

    monkeypatch.setattr(worker.pool, "pipeline", pipeline)
    await asyncio.wait_for(run_worker(worker, max_pause=0.5), 30)
    assert cuts and all(cuts)
    assert state["calls"]["w"] == [1]  # run once Redis answered again
    assert worker.job_counter == 0  # and the slot the failed start took given back


async def test_unknown_task_name_is_refused(kernel):
    with pytest.raises(LookupError, match="no task named 'nope'"):
        await kernel.queue.enqueue("nope")


async def test_mail_task_delivers_to_a_real_smtp_server_through_failures(
    kernel, smtp_server, run_tasks
):
    saved = kernel.mailer
    kernel.mailer = SMTPMailer("shop@example.com", "127.0.0.1", smtp_server.port, False, None, None)
    try:
        smtp_server.refuse(2)
        mail = Mail(to=["buyer@example.com"], subject="Hello ✓", body="Thanks for shopping.")
        await kernel.queue.enqueue("kernel.send_mail", mail.to_dict())
        await run_tasks()
    finally:
        kernel.mailer = saved
    assert smtp_server.attempts == 3
    [msg] = smtp_server.messages
    assert msg["To"] == "buyer@example.com" and msg["From"] == "shop@example.com"
    assert "Thanks for shopping." in msg.get_payload(decode=True).decode()
    # Every message has the Date RFC 5322 requires and a Message-ID at the sender's domain,
    # the same on every try (the two refused tries carried it too).
    sent_at = email.utils.parsedate_to_datetime(msg["Date"])
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 300
    assert msg["Message-ID"] == f"<{mail.message_id}@example.com>"
    again = Mail.from_dict(mail.to_dict()).to_message("shop@example.com")
    assert again["Message-ID"] == msg["Message-ID"]


def _mails(n: int, tag: str) -> list[Mail]:
    return [Mail(to=[f"{tag}{i}@example.com"], subject=f"{tag} {i}", body="b") for i in range(n)]


def _received(smtp_server) -> list[str]:
    return sorted(str(m["To"]) for m in smtp_server.messages)


async def test_smtp_mail_after_mail_goes_over_one_connection_and_quits_at_the_end(smtp_server):
    mailer = SMTPMailer("shop@example.com", "127.0.0.1", smtp_server.port, False, None, None)
    for mail in _mails(5, "one"):
        await mailer.send(mail)
    assert smtp_server.connections == 1
    # Sent at once, each takes a connection of its own; they are kept for the next ones.
    await asyncio.gather(*(mailer.send(m) for m in _mails(3, "burst")))
    await asyncio.gather(*(mailer.send(m) for m in _mails(3, "again")))
    assert smtp_server.connections == 3
    assert _received(smtp_server) == sorted(
        m.to[0] for m in _mails(5, "one") + _mails(3, "burst") + _mails(3, "again")
    )
    await mailer.aclose()
    assert mailer._idle == []
    await mailer.send(Mail(to=["after@example.com"], subject="s", body="b"))  # opens anew
    assert smtp_server.connections == 4
    await mailer.aclose()


async def test_smtp_a_connection_the_server_dropped_is_replaced_and_no_mail_lost_or_doubled(
    smtp_server,
):
    mailer = SMTPMailer("shop@example.com", "127.0.0.1", smtp_server.port, False, None, None)
    [first, second, third] = _mails(3, "drop")
    await mailer.send(first)
    # The server hangs up; the client has not read the hang-up yet when it sends again.
    smtp_server.drop_connections()
    await mailer.send(second)
    # The server hangs up and the client has seen it.
    smtp_server.drop_connections()
    await asyncio.sleep(0.1)
    await mailer.send(third)
    assert smtp_server.connections == 3
    assert _received(smtp_server) == sorted(m.to[0] for m in (first, second, third))
    await mailer.aclose()


async def test_smtp_a_refused_mail_is_raised_and_its_connection_not_kept(smtp_server):
    import aiosmtplib

    mailer = SMTPMailer("shop@example.com", "127.0.0.1", smtp_server.port, False, None, None)
    smtp_server.refuse(1)
    [refused, later] = _mails(2, "refused")
    with pytest.raises(aiosmtplib.SMTPDataError):
        await mailer.send(refused)
    assert mailer._idle == []
    await mailer.send(later)
    assert smtp_server.connections == 2 and _received(smtp_server) == [later.to[0]]
    await mailer.aclose()


async def test_smtp_a_connection_idle_too_long_is_not_used_again(smtp_server):
    mailer = SMTPMailer(
        "shop@example.com", "127.0.0.1", smtp_server.port, False, None, None, idle_timeout=0.2
    )
    [first, second] = _mails(2, "idle")
    await mailer.send(first)
    await asyncio.sleep(0.3)
    await mailer.send(second)
    assert smtp_server.connections == 2 and len(smtp_server.messages) == 2
    await mailer.aclose()


def test_a_message_is_built_as_the_standard_email_policy_builds_it(monkeypatch):
    import email.policy
    from email.headerregistry import AddressHeader

    import commerce_kernel.mail

    mail = Mail(
        to=["Zoë Ünal <zoe@example.com>", "b@example.com"],
        subject="Ihre Bestellung #7 ist bestätigt ✓",
        body="Grüße\n" * 40,
        html="<p>Grüße</p>",
        headers={"Date": "Fri, 04 Dec 2026 01:00:00 +0000", "Reply-To": "Shop <help@shop.example>"},
    )
    ours = mail.to_message("Shop <shop@shop.example>")
    assert isinstance(ours["To"], AddressHeader)
    assert [a.addr_spec for a in ours["To"].addresses] == ["zoe@example.com", "b@example.com"]
    monkeypatch.setattr(commerce_kernel.mail, "POLICY", email.policy.default)
    standard = mail.to_message("Shop <shop@shop.example>")
    expected = standard.as_bytes()  # picks the multipart boundary
    ours.set_boundary(standard.get_boundary())
    assert ours.as_bytes() == expected


def test_headers_given_by_the_caller_win():
    msg = Mail(
        to=["a@example.com"],
        subject="s",
        body="b",
        headers={"Message-ID": "<order-1-mail-1@shop.example>"},
    ).to_message("Shop <shop@shop.example>")
    assert msg.get_all("Message-ID") == ["<order-1-mail-1@shop.example>"]
    assert msg["Date"]


async def test_pubsub_delivers_to_every_subscriber(kernel):
    async with kernel.pubsub.subscribe("news") as a, kernel.pubsub.subscribe("news") as b:
        await kernel.pubsub.publish("news", {"n": 1})
        got = await asyncio.wait_for(asyncio.gather(a.get(), b.get()), 5)
    assert got == [{"n": 1}, {"n": 1}]


async def test_pubsub_crosses_processes_with_redis(kernel):
    if not kernel.settings.redis_url:
        pytest.skip("cross-process pub/sub needs Redis (the MariaDB + Redis run)")
    import sys

    code = (
        "import asyncio, sys\n"
        "from redis.asyncio import Redis\n"
        "from commerce_kernel.pubsub.redis import RedisPubSub\n"
        "async def main():\n"
        "    redis = Redis.from_url(sys.argv[1])\n"
        "    ps = RedisPubSub(redis, sys.argv[2]); await ps.start()\n"
        "    await ps.publish('cross', {'from': 'other process'}); await ps.stop()\n"
        "    await redis.aclose()\n"
        "asyncio.run(main())\n"
    )
    async with kernel.pubsub.subscribe("cross") as sub:
        await asyncio.sleep(0.2)  # the subscription reaches Redis
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, kernel.settings.redis_url, kernel.settings.redis_prefix
        )
        assert await proc.wait() == 0
        assert await asyncio.wait_for(sub.get(), 10) == {"from": "other process"}


def test_cron_jobs_have_calendar_fields():
    job = CronJob("x.monthly", monthly_report, day=1, hour=3, minute=0)
    assert job.matches(datetime(2026, 12, 1, 3, 0, 0, tzinfo=UTC))
    assert not job.matches(datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC))
    assert not job.matches(datetime(2026, 12, 1, 3, 0, 1, tzinfo=UTC))
    mondays = CronJob("x.weekly", monthly_report, weekday=0, hour=9, minute=0, month={1, 7})
    assert mondays.matches(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))  # a Monday in January
    assert not mondays.matches(datetime(2027, 1, 5, 9, 0, tzinfo=UTC))  # Tuesday
    assert not mondays.matches(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))  # a Monday in February


def test_arq_schedules_the_same_calendar():
    from commerce_kernel.tasks.redis import _arq_cron

    arq_job = _arq_cron(CronJob("x.monthly", monthly_report, day=1, hour=3, minute=0, weekday=2))
    assert (arq_job.day, arq_job.hour, arq_job.minute, arq_job.second) == (1, 3, 0, 0)
    assert arq_job.weekday == 2 and arq_job.month is None and arq_job.unique


async def test_run_cron_runs_one_job_now(run_cron):
    await run_cron("flaky.monthly_report")
    assert state["calls"]["monthly"] == ["cron:flaky.monthly_report"]
    with pytest.raises(LookupError, match=r"no cron job named 'flaky\.nope'"):
        await run_cron("flaky.nope")


async def test_sequenced_messages_are_numbered_in_order_and_stale_versions_dropped(kernel):
    ps = kernel.pubsub
    before = await ps.sequence("seq-test")
    async with ps.subscribe("seq-test") as sub:
        seqs = await ps.publish_versioned(
            "seq-test",
            [
                Versioned("a", 1, {"k": "a", "v": 1}),
                Versioned("b", 5, {"k": "b", "v": 5}),
                Versioned("a", 3, {"k": "a", "v": 3}),
                Versioned("a", 2, {"k": "a", "v": 2}),  # older than 3: dropped
                Versioned("b", 5, {"k": "b", "v": 5}),  # the same version again: dropped
            ],
        )
        got = [await asyncio.wait_for(sub.get(), 5) for _ in range(3)]
    assert seqs[3] is None and seqs[4] is None
    first = before + 1
    assert seqs[:3] == [first, first + 1, first + 2]
    assert got == [
        {"k": "a", "v": 1, "seq": first},
        {"k": "b", "v": 5, "seq": first + 1},
        {"k": "a", "v": 3, "seq": first + 2},
    ]
    assert await ps.sequence("seq-test") == first + 2
    # The sequence started near the clock (microseconds), so it outgrows a restarted one.
    assert abs(before - time.time_ns() // 1000) < 3600 * 10**6


async def test_a_lost_sequence_restarts_above_where_it_was(kernel):
    if not kernel.settings.redis_url:
        pytest.skip("Redis losing its keys: the MariaDB + Redis run")
    ps = kernel.pubsub
    [old] = await ps.publish_versioned("seq-lost", [Versioned("a", 1, {"v": 1})])
    await kernel.redis.delete(f"{ps.prefix}seq:seq-lost", f"{ps.prefix}ver:seq-lost")
    await asyncio.sleep(0.001)
    [new] = await ps.publish_versioned("seq-lost", [Versioned("a", 1, {"v": 1})])
    assert new is not None and old is not None and new > old


async def test_sequenced_messages_racing_from_two_processes_arrive_in_order(kernel):
    if not kernel.settings.redis_url:
        pytest.skip("cross-process pub/sub needs Redis (the MariaDB + Redis run)")
    import sys

    # Two processes publish versions of the same keys in opposite orders at once.
    code = (
        "import asyncio, sys\n"
        "from redis.asyncio import Redis\n"
        "from commerce_kernel.pubsub import Versioned\n"
        "from commerce_kernel.pubsub.redis import RedisPubSub\n"
        "async def main():\n"
        "    redis = Redis.from_url(sys.argv[1])\n"
        "    ps = RedisPubSub(redis, sys.argv[2])\n"
        "    order = range(1, 201) if sys.argv[3] == 'up' else range(200, 0, -1)\n"
        "    for v in order:\n"
        "        await ps.publish_versioned('race', [Versioned(f'k{v % 3}', v, {'v': v})])\n"
        "    await redis.aclose()\n"
        "asyncio.run(main())\n"
    )
    url, prefix = kernel.settings.redis_url, kernel.settings.redis_prefix
    async with kernel.pubsub.subscribe("race") as sub:
        await asyncio.sleep(0.2)
        procs = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", code, url, prefix, way)
            for way in ("up", "down")
        ]
        assert [await p.wait() for p in procs] == [0, 0]
        got = []
        with contextlib.suppress(TimeoutError):
            while True:
                got.append(await asyncio.wait_for(sub.get(), 1))
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(set(seqs)), "every subscriber hears them in seq order"
    last: dict[int, int] = {}
    for m in got:
        key = m["v"] % 3
        assert m["v"] > last.get(key, 0), "a key's versions only grow"
        last[key] = m["v"]
    assert last == {0: 198, 1: 199, 2: 200}


async def test_a_lost_pubsub_connection_is_made_again_and_subscribers_told_of_the_gap(kernel):
    if not kernel.settings.redis_url:
        pytest.skip("a connection to lose needs Redis (the MariaDB + Redis run)")
    ps = kernel.pubsub
    async with ps.subscribe("cut", gaps=True) as told, ps.subscribe("cut") as untold:
        assert ps.listening("cut")
        await ps.publish("cut", {"n": 1})
        assert await asyncio.wait_for(told.get(), 5) == {"n": 1}
        assert await asyncio.wait_for(untold.get(), 5) == {"n": 1}
        assert await cut_pubsub(kernel) == 1
        # Subscribed again on a new connection: the gap comes first, then what is published.
        assert await asyncio.wait_for(told.get(), 10) is GAP
        assert ps.listening("cut")
        await ps.publish("cut", {"n": 2})
        assert await asyncio.wait_for(told.get(), 5) == {"n": 2}
        assert await asyncio.wait_for(untold.get(), 5) == {"n": 2}  # no GAP for it
        assert told.queue.empty() and untold.queue.empty()
    assert not ps.listening("cut")


async def test_a_subscriber_that_falls_behind_is_told_where_it_lost_messages(kernel):
    async with kernel.pubsub.subscribe("flood", gaps=True) as sub:
        for n in range(sub.queue.maxsize + 5):
            sub.deliver({"n": n})
        got = [await sub.get() for _ in range(sub.queue.qsize())]
    # One GAP however many were dropped; the newest messages all kept, in order.
    assert got.count(GAP) == 1
    numbers = [m["n"] for m in got if m is not GAP]
    assert numbers == sorted(numbers) and len(numbers) == sub.queue.maxsize - 1
    assert numbers[-5:] == list(range(sub.queue.maxsize, sub.queue.maxsize + 5))
