"""A second test plugin (loaded directly) implementing the guestbook's own hook."""

from commerce_kernel import Plugin, hookimpl

plugin = Plugin(name="shout", version="0.0.1", requires=("guestbook",))


@hookimpl
def guestbook_text(text: str) -> str:
    return text.upper() + "!"
