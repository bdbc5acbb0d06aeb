"""The live_counts settings section (environment / .env)."""

from __future__ import annotations

from pydantic import Field

from commerce_kernel.settings import SectionSettings


class LiveCountsSettings(SectionSettings):
    """`kernel.section(LiveCountsSettings)`: the limits every socket is held to."""

    max_connections: int = Field(10_000, ge=1)
    """LIVE_COUNTS_MAX_CONNECTIONS: open sockets per server process; one more is closed at
    once with 1013 (try again later)."""
    max_subscriptions: int = Field(1000, ge=1)
    """LIVE_COUNTS_MAX_SUBSCRIPTIONS: products one socket may follow at a time."""
    max_frame_bytes: int = Field(16 * 1024, ge=64)
    """LIVE_COUNTS_MAX_FRAME_BYTES: the largest frame a client may send; a larger one closes
    the socket with 1009 (message too big)."""
    send_queue: int = Field(256, ge=1)
    """LIVE_COUNTS_SEND_QUEUE: snapshot and error frames waiting for one client; a client that
    lets more pile up is closed with 1008 so it never holds up the others. (Figures do not
    pile up: a product waiting to be sent holds only its latest figure.)"""
    send_timeout: float = Field(10.0, gt=0)
    """LIVE_COUNTS_SEND_TIMEOUT: seconds one frame may wait for a client that reads nothing
    (its connection's buffers full) before the socket is closed with 1008."""
    min_interval: float = Field(0.0, ge=0)
    """LIVE_COUNTS_MIN_INTERVAL: the shortest time between two sends of figures to one socket.
    A change after a quiet moment goes out at once; changes within the interval wait for its
    end and go out together, each product once with its latest figure and seq. 0 (the
    default): every figure goes out at once, and only figures that pile up behind a busy
    socket are merged. A throttle pays when many orders hit the same few products; it adds up
    to the interval to the latency."""
    frames_per_second: float = Field(10.0, gt=0)
    """LIVE_COUNTS_FRAMES_PER_SECOND: client frames accepted per second per socket (with a
    burst of `LIVE_COUNTS_FRAME_BURST`); frames over it get an error frame and are ignored."""
    frame_burst: int = Field(30, ge=1)
    """LIVE_COUNTS_FRAME_BURST: client frames accepted at once before the rate applies."""
