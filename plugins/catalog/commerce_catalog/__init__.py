"""The catalog plugin: products, search and ordering, bulk upload through the task queue."""

from __future__ import annotations

__version__ = "0.1.0"
