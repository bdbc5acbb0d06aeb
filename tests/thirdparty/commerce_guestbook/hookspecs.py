"""The guestbook's own hook, for other plugins to implement."""

from commerce_kernel import Compose, hookspec


@hookspec(Compose.PIPELINE, value="text")
def guestbook_text(text: str) -> str | None:
    """Rewrite an entry's text before it is stored; each plugin gets the previous result."""
