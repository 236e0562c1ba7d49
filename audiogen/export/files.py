"""Atomic output: a session's files are written under temporary names and renamed into place together.

An interrupted run (crash, Ctrl-C, kill -9) leaves at worst hidden `.NAME.*.part*` files,
never a half-written file under a final name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from audiogen.errors import OutputError


def check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder ({exc.strerror}); choose another --out") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: output folder is not writable; choose another --out")


def _write_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"{target}: cannot write the file ({exc.strerror}); check the folder and free space")


class Staging:
    """Temporary files for a set of targets: `commit` renames them into place in the order they
    were staged; leaving the `with` block without a commit removes them."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()

    def path(self, target: Path) -> Path:
        """A new empty temporary file beside `target`, with the same suffix (tools sniff it)."""
        target = Path(target)
        temp = target.parent / f".{target.stem}.{secrets.token_hex(4)}.part{target.suffix}"
        try:
            # Not mkstemp: its files are private (0600); a session's files get the user's usual mode.
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise _write_error(target, exc) from None
        self._pending.append((temp, target))
        return temp

    def write_bytes(self, target: Path, data: bytes) -> None:
        temp = self.path(target)
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
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        self._pending.clear()
