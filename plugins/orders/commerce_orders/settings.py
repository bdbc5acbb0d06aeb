"""The orders settings section (`ORDERS_*` variables), read once at start-up."""

from __future__ import annotations

from commerce_kernel.settings import SectionSettings


class OrdersSettings(SectionSettings):
    # The prefix is the plugin name's: ORDERS_IDEMPOTENCY_TTL_HOURS, ...

    # Idempotency keys are answered for at least this long, then purged by a cron job.
    idempotency_ttl_hours: float = 24.0
    # An in-flight claim older than this belongs to a request that died; a retry takes it over.
    idempotency_stale_seconds: float = 30.0
    # The cron job re-enqueues outbox mail still unsent after this long (Redis was down, ...).
    mail_requeue_after_seconds: float = 10.0
    # How long a sender holds an outbox row; longer than an SMTP exchange can take.
    mail_lease_seconds: float = 60.0
    # After this many attempts an outbox row is left for a person to look at.
    mail_max_attempts: int = 20
    # Tries of one order transaction that lost a deadlock or lock-wait race.
    place_order_tries: int = 5
