"""The plugin surface is typed: mypy finds a misspelt hook, a wrong argument or a wrong result
type at a hook call before anything runs, as a plugin author's editor would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = """
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import Call, Kernel, SectionSettings, hookspecs


class ShopSettings(SectionSettings):
    level: int = 1


async def handler(call: Call, session: AsyncSession) -> int:
    kernel: Kernel = call.kernel
    await kernel.hooks.call(hookspecs.startup, kernel=kernel)
    stored = await kernel.hooks.call(
        hookspecs.set_password, kernel=kernel, session=session, account_id=1, password="pw"
    )
    routes = kernel.hooks.call_sync(hookspecs.routes, kernel=kernel)
    return kernel.section(ShopSettings).level + len(routes) + int(bool(stored))
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "snippet.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".cache"), "snippet.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_correct_hook_calls_type_check(tmp_path):
    result = mypy(tmp_path, GOOD)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("await kernel.hooks.call(hookspecs.startp, kernel=kernel)", 'has no attribute "startp"'),
        ("await kernel.hooks.call(hookspecs.startup, kernl=kernel)", 'keyword argument "kernl"'),
        ("n: str = kernel.hooks.call_sync(hookspecs.routes, kernel=kernel)", "Incompatible types"),
        ("kernel.section(ShopSettings).levl", 'has no attribute "levl"'),
    ],
)
def test_a_mistake_at_a_hook_call_is_a_type_error(tmp_path, line, error):
    result = mypy(tmp_path, GOOD + f"\n\nasync def mistake(kernel: Kernel) -> None:\n    {line}\n")
    assert result.returncode == 1, result.stdout
    assert error in result.stdout, result.stdout
