"""The orders plugin: placing orders (stock, idempotency, outbox mail) and their life cycle."""

from __future__ import annotations

__version__ = "0.1.0"
