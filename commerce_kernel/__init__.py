"""commerce-kernel: a small async commerce kernel; everything else is a plugin.

The names a plugin needs are importable from here; the modules they come from are documented
in docs/plugin-authoring.md.
"""

from __future__ import annotations

from commerce_kernel.app import create_app
from commerce_kernel.bodies import Body, Whole
from commerce_kernel.commands import Command
from commerce_kernel.db import (
    MAX_INT_ID,
    Base,
    UTCDateTime,
    after_commit,
    rfc3339,
    utcnow,
    utcnow_seconds,
    with_retries,
)
from commerce_kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from commerce_kernel.events import Event, Events
from commerce_kernel.hooks import Hooks
from commerce_kernel.identity import (
    ADMIN,
    CUSTOMER,
    Account,
    AccountOut,
    EmailColumn,
    Principal,
    TokenPair,
    TokensWithUser,
    admin,
    anonymous,
    canonical_email,
    customer,
    prove_email,
    public,
    signed_in,
)
from commerce_kernel.kernel import Kernel
from commerce_kernel.mail import Mail
from commerce_kernel.markers import Compose, Plugin, PluginError, durable, hookimpl, hookspec
from commerce_kernel.money import Money
from commerce_kernel.pagination import Page, PageQuery, page_response
from commerce_kernel.pubsub import PubSub, Subscription
from commerce_kernel.ratelimit import RateLimiter
from commerce_kernel.routing import Call, Link, api_route, reply, routes_from
from commerce_kernel.settings import SectionSettings, Settings
from commerce_kernel.tasks import CronJob, GiveUp, Task, TaskContext, TaskQueue
from commerce_kernel.version import __version__

__all__ = [
    "ADMIN",
    "CUSTOMER",
    "MAX_INT_ID",
    "Account",
    "AccountOut",
    "BadRequest",
    "Base",
    "Body",
    "Call",
    "Command",
    "Compose",
    "Conflict",
    "CronJob",
    "EmailColumn",
    "Event",
    "Events",
    "Forbidden",
    "GiveUp",
    "Hooks",
    "Kernel",
    "Link",
    "Mail",
    "Money",
    "NotFound",
    "Page",
    "PageQuery",
    "PayloadTooLarge",
    "Plugin",
    "PluginError",
    "Principal",
    "Problem",
    "PubSub",
    "RateLimiter",
    "SectionSettings",
    "ServiceUnavailable",
    "Settings",
    "Subscription",
    "Task",
    "TaskContext",
    "TaskQueue",
    "TokenPair",
    "TokensWithUser",
    "TooManyRequests",
    "UTCDateTime",
    "Unauthorized",
    "UnprocessableEntity",
    "Whole",
    "__version__",
    "admin",
    "after_commit",
    "anonymous",
    "api_route",
    "canonical_email",
    "create_app",
    "customer",
    "durable",
    "hookimpl",
    "hookspec",
    "page_response",
    "prove_email",
    "public",
    "reply",
    "rfc3339",
    "routes_from",
    "signed_in",
    "utcnow",
    "utcnow_seconds",
    "with_retries",
]
