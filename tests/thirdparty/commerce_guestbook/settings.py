"""The guestbook's settings section: `GUESTBOOK_*` variables, read once at start-up."""

from __future__ import annotations

from pydantic import Field

from commerce_kernel import SectionSettings


class GuestbookSettings(SectionSettings):
    """`kernel.section(GuestbookSettings)`. No `env_prefix`: the kernel derives it from the
    plugin name, so `keep_days` is the variable `GUESTBOOK_KEEP_DAYS`."""

    keep_days: int = Field(365, ge=1)
    """GUESTBOOK_KEEP_DAYS: the nightly `guestbook.purge` job deletes older entries."""
