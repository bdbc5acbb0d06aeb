"""commerce-kernel: a small async commerce kernel; everything else is a plugin."""

from __future__ import annotations

__version__ = "0.1.0"

from commerce_kernel.plugins import Compose, Plugin, PluginError, hookimpl, hookspec

__all__ = ["Compose", "Plugin", "PluginError", "__version__", "hookimpl", "hookspec"]
