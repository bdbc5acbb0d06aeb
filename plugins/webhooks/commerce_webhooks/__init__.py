"""The webhooks plugin: external apps subscribe to shop events and receive them as signed
HTTP POSTs (Standard Webhooks), written to an outbox with the fact, retried, never lost."""

from __future__ import annotations

__version__ = "0.1.0"
