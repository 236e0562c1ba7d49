"""Where a library build's worker processes come from.

A light module (no numpy, no scipy), so the command line can start the fork
server before it imports the pipeline itself: the two imports then overlap.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context

PRELOADED = ["audiogen.worker_preload"]  # the pipeline: about a second and a half to import


def pool_context() -> multiprocessing.context.BaseContext:
    """Where there is a fork server, workers are forks of a clean process that has imported the
    pipeline once, instead of each importing it again. Never forks of the build's own process: a
    forked child of a process that used pyttsx3 hangs. Elsewhere, spawned processes."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def start_fork_server() -> None:
    """Start the fork server now (it imports the pipeline while this process goes on), if there is one."""
    if pool_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
