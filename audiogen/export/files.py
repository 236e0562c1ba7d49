"""Atomic output: a session's files are written under temporary names and renamed into place together.

An interrupted run (crash, Ctrl-C, kill -9) never leaves a half-written file under a final
name. A killed run can leave hidden `.NAME.HOST-PID-*.part.EXT` files; the next run that
writes NAME removes those whose process on this host is gone.
"""

from __future__ import annotations

import glob
import os
import secrets
import socket
from pathlib import Path

from audiogen.errors import OutputError, mention


def check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out_dir}: cannot create the output folder ({exc.strerror}); choose another {mention('out')}"
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: output folder is not writable; choose another {mention('out')}")


def _write_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"{target}: cannot write the file ({exc.strerror}); check the folder and free space")


def _owner() -> str:
    return f"{socket.gethostname().replace('-', '_').replace('.', '_')}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_stale(target: Path) -> None:
    """Remove temporary files a killed run left for `target` (only this host's, only of dead processes)."""
    target = Path(target)
    prefix = f".{target.stem}.{_owner().rsplit('-', 1)[0]}-"
    for temp in target.parent.glob(f"{glob.escape(prefix)}*.part*"):
        pid = temp.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            temp.unlink(missing_ok=True)


class Staging:
    """Temporary files for a set of targets: `commit` renames them into place in the order they
    were staged; leaving the `with` block without a commit removes them."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._scratch: list[Path] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()

    def path(self, target: Path) -> Path:
        """A new empty temporary file beside `target`, with the same suffix (tools sniff it)."""
        temp = self._new(target, "part")
        self._pending.append((temp, target))  # before it exists: a Ctrl-C in between still removes it
        return self._create(temp, target, self._pending)

    def scratch(self, target: Path, label: str) -> Path:
        """A new empty temporary file beside `target` that is never renamed into place (a piece of
        it); removed with the rest, and by a later run if this one is killed."""
        temp = self._new(target, f"part-{label}")
        self._scratch.append(temp)
        return self._create(temp, target, self._scratch)

    @staticmethod
    def _new(target: Path, kind: str) -> Path:
        target = Path(target)
        sweep_stale(target)
        return target.parent / f".{target.stem}.{_owner()}-{secrets.token_hex(4)}.{kind}{target.suffix}"

    @staticmethod
    def _create(temp: Path, target: Path, kept: list) -> Path:
        try:
            # Not mkstemp: its files are private (0600); a session's files get the user's usual mode.
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            kept.pop()
            raise _write_error(Path(target), exc) from None
        return temp

    def write_bytes(self, target: Path, data: bytes) -> None:
        self.fill(self.path(target), target, data)

    @staticmethod
    def fill(temp: Path, target: Path, data: bytes) -> None:
        """Write `data` into `temp`, a temporary file `path(target)` gave earlier (so it is renamed in
        the order it was staged)."""
        try:
            temp.write_bytes(data)
        except OSError as exc:
            raise _write_error(target, exc) from None

    def write_text(self, target: Path, text: str) -> None:
        self.write_bytes(target, text.encode("utf-8"))

    def commit(self) -> None:
        try:
            for temp, target in self._pending:
                os.replace(temp, target)
        except OSError as exc:
            raise _write_error(target, exc) from None
        finally:
            self.discard()

    def discard(self) -> None:
        targets = {target for _, target in self._pending}
        for temp in [temp for temp, _ in self._pending] + self._scratch:
            temp.unlink(missing_ok=True)
        self._pending.clear()
        self._scratch.clear()
        # Also this process's own leftovers for the same files (an encoder that was stopped while it
        # opened its output can create the file again after the unlink above).
        for target in targets:
            for temp in target.parent.glob(f"{glob.escape(f'.{target.stem}.{_owner()}-')}*.part*"):
                temp.unlink(missing_ok=True)
