"""Installing a distribution the way a user would: a real, non-editable install into a folder
of its own (the guestbook, a scaffolded plugin, the tutorial's plugin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def install_target(source: Path, target: Path) -> None:
    """`pip install --no-deps --target target source` (with uv when the venv has it)."""
    uv = Path(sys.executable).with_name("uv")
    cmd = (
        [str(uv), "pip", "install", "-q", "--python", sys.executable]
        if uv.exists()
        else [sys.executable, "-m", "pip", "install", "-q"]
    )
    subprocess.run(
        [*cmd, "--no-deps", "--target", str(target), str(source.resolve())],
        check=True,
        timeout=300,
    )
