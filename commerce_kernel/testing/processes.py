"""`commerce serve` and `commerce worker` in real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class ServerProcess:
    """`commerce serve` or `commerce worker` running in a subprocess."""

    proc: subprocess.Popen[bytes]
    port: int | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _commerce_bin() -> str:
    return str(Path(sys.executable).with_name("commerce"))


def start_process(
    args: Sequence[str],
    env: dict[str, str],
    *,
    port: int | None = None,
    cwd: str | None = None,
    wait_ready: bool = True,
) -> ServerProcess:
    log = Path(tempfile.mkstemp(prefix="commerce-proc-", suffix=".log")[1])
    full_env = {**os.environ, **env}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [_commerce_bin(), *args],
            env=full_env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    server = ServerProcess(proc, port, log)
    if port is not None and wait_ready:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/api/health/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"server did not start:\n{server.output()}")
            time.sleep(0.1)
    return server
