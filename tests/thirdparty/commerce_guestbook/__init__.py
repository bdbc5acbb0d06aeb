"""A third-party plugin used only by the tests: it proves that everything a plugin can add
(tables, routes, a WebSocket channel, tasks, cron jobs, middleware, settings, a hook of its
own, an optional integration and a CLI command) needs no change to the kernel.

Its entry point names `commerce_guestbook.plugin`; other plugins import `commerce_guestbook.api`.
"""

__version__ = "0.0.1"
