"""The guestbook's own hook, for other plugins to implement (`commerce_guestbook.api.hooks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from commerce_kernel import Kernel


@hookspec(Compose.PIPELINE, value="text")
async def guestbook_text(kernel: Kernel, account_id: int, text: str) -> str:
    """Rewrite an entry's text before it is stored (no transaction is open yet).

    PIPELINE: each implementation receives the previous result in `text` and returns the
    next one (None: unchanged); the caller receives the text after the last implementation.
    """
    raise NotImplementedError
