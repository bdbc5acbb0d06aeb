"""The cart plugin: a customer's cart priced from the catalog, and the price-adjustment hook."""

from __future__ import annotations

__version__ = "0.1.0"
