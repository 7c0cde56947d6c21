"""Test helpers imported by Ray workers (this folder is on their PYTHONPATH, see conftest.py)."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from hayswitch.ray import HayswitchEmbedder


class CrashOnceEmbedder(HayswitchEmbedder):
    """Kills its own actor process (SIGKILL, as the OOM killer or a lost node would) once in the
    whole job: in the call after ``crash_after`` calls have started, after embedding the batch
    and before returning it, so the work of that batch is lost and must be redone elsewhere.

    Every call leaves a file in ``marker_dir``; the kill leaves ``killed`` holding the pid."""

    def __init__(self, *, marker_dir: str, crash_after: int, **options: Any) -> None:
        super().__init__(**options)
        self.marker_dir = Path(marker_dir)
        self.crash_after = crash_after

    def __call__(self, batch: Any) -> Any:
        (self.marker_dir / f"call-{os.getpid()}-{uuid.uuid4().hex}").touch()
        out = super().__call__(batch)
        if len(list(self.marker_dir.glob("call-*"))) > self.crash_after:
            try:
                fd = os.open(self.marker_dir / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        out["actor_pid"] = np.full(len(out["id"]), os.getpid())
        return out
