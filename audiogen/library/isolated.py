"""Runs one library session in its own process: `python -m audiogen.library.isolated TASK OUTCOME`.

Used where the task cannot bound its own time with a timer signal (a Dask worker thread):
the parent kills this process group if it outlives the session's deadline.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path


def main(task_file: str, outcome_file: str) -> None:
    from audiogen.library.runner import run_task

    outcome = run_task(pickle.loads(Path(task_file).read_bytes()))
    temp = Path(f"{outcome_file}.tmp")
    temp.write_bytes(pickle.dumps(outcome))
    os.replace(temp, outcome_file)  # the parent reads a whole outcome or none


if __name__ == "__main__":
    main(*sys.argv[1:3])
