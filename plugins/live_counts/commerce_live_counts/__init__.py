"""The live_counts plugin: units sold per product, pushed live over WebSockets to every
server process's clients, the same figure over HTTP, and the `/live/` page."""

from __future__ import annotations

__version__ = "0.1.0"
