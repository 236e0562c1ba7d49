"""One exception family; each message tells a person what went wrong and what to do.

The CLI prints ``str(error)`` as one line on stderr and exits with ``error.exit_code``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MENTION = re.compile("\x1f([a-z_]+)\x1f")


def mention(setting: str) -> str:
    """Another setting named inside a message (`"or choose " + mention("engine") + " pyttsx3"`):
    each entry point words it as it words the setting an error is about."""
    return f"\x1f{setting}\x1f"


class AudiogenError(Exception):
    """Base of every error audiogen reports to a user.

    An error about one setting's value names the setting (`setting`, its name in the settings
    table) and leaves naming it to the entry point: `worded(flag)` on the command line gives
    `--voice 'x': unknown voice`; a manifest puts `message` after its key path
    (`sessions[2].voices[0]: 'x': unknown voice`); `str()` names settings as the Python API's
    keywords. The message reads on from the setting's name.
    """

    exit_code = 1

    def __init__(self, message: str = "", setting: str | None = None) -> None:
        super().__init__(message, setting)
        self.template = message  # settings it mentions are marked (see `mention`)
        self.setting = setting

    def worded(self, name: Callable[[str], str] = str) -> str:
        """The message with each setting called `name(setting)`; the one at fault leads."""
        text = _MENTION.sub(lambda found: name(found.group(1)), self.template)
        return f"{name(self.setting)} {text}" if self.setting else text

    @property
    def message(self) -> str:
        """The message without the setting at fault (others it mentions by their names)."""
        return _MENTION.sub(lambda found: found.group(1), self.template)

    def __str__(self) -> str:
        return self.worded()


class SettingError(AudiogenError):
    """A setting the Python API does not know, or a value that does not fit it (as a bad option)."""

    exit_code = 2


class InputError(AudiogenError):
    """An article or other input file is missing, unreadable or unusable."""

    exit_code = 3


class TemplateError(AudiogenError):
    """A script template is missing, broken, or used a missing variable."""

    exit_code = 4


class MarkupError(TemplateError):
    """The markup a template produced cannot be parsed into cues."""


class TimingError(AudiogenError):
    """The session cannot be fitted into the requested length."""

    exit_code = 5


class VoiceError(AudiogenError):
    """The speech engine or voice is unknown, missing or failed."""

    exit_code = 6


class AudioError(AudiogenError):
    """Background, mixing or encoding failed."""

    exit_code = 7


class ToolMissingError(AudiogenError):
    """An external program (ffmpeg, espeak-ng) is not installed."""

    exit_code = 8


class OutputError(AudiogenError):
    """The output folder or file cannot be written."""

    exit_code = 9


class ManifestError(InputError):
    """A library manifest has problems; every one is listed, each with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
        self.args = (self.problems,)  # what a worker's pickle gives back to __init__


class LibraryError(AudiogenError):
    """Some sessions of a library build failed, or the build could not run."""

    exit_code = 10


class ServerError(AudiogenError):
    """`audiogen serve` cannot listen: the port is taken, the host is not this machine's."""

    exit_code = 11


class Terminated(BaseException):
    """SIGTERM arrived (a service manager, `timeout`, a cancelled job): the command stops as
    after Ctrl-C, cleaning up on the way. A BaseException, so no `except Exception` keeps going."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process the signal ended

    @staticmethod
    def on_signal(signum, frame) -> None:
        """A signal handler: raise Terminated where the main thread is."""
        raise Terminated()


# Exit codes, documented in the README and in `audiogen --help`.
EXIT_CODES = {
    0: "success",
    1: "unexpected error",
    2: "bad command-line usage (Click), or an unknown setting or bad value given to the Python API",
    InputError.exit_code: "bad input file",
    TemplateError.exit_code: "bad template or markup",
    TimingError.exit_code: "session does not fit the requested length",
    VoiceError.exit_code: "speech engine or voice problem",
    AudioError.exit_code: "audio processing or encoding failed",
    ToolMissingError.exit_code: "a required program is missing",
    OutputError.exit_code: "output cannot be written",
    LibraryError.exit_code: "some sessions of a library build failed",
    ServerError.exit_code: "the server cannot listen (port in use, not this machine's address)",
    130: "interrupted (Ctrl-C)",
    141: "output pipe closed by the reader",
    Terminated.exit_code: "terminated (SIGTERM)",
}
