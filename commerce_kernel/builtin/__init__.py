"""The kernel's own plugin, `kernel`, found through the same entry point group as every other
plugin and always loaded: its hook implementations are in `plugin`, the routes and commands
they contribute in the modules beside it and in `commerce_kernel.commands`."""
