"""Facts about the machine that results files record beside their numbers."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def core_count() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def git_state(root: str | Path = ".", short: bool = False) -> dict:
    """The checkout's commit (abbreviated if `short`), whether its tracked files differ from it, and
    which ones (timings belong to code); each None where git or the checkout cannot tell."""
    def git(*args):
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    rev = git("rev-parse", *(("--short",) if short else ()), "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    modified = None if status is None else [line[3:] for line in status.splitlines()]
    return {"commit": None if rev is None else rev.strip(), "dirty": None if modified is None else bool(modified),
            "modified": modified}
