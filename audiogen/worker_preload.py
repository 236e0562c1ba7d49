"""What the library's fork server imports before it forks workers: the pipeline.

Ctrl-C is held off while it imports, then put back as it was (workers inherit
it, so Ctrl-C still stops a running session): an interrupt in the middle of the
import would print the server's traceback, and the build itself reports the
interrupt in one line. SIGTERM is ignored for good: sent to the whole process
group it would end the server while the build still needs it to stop its
workers cleanly. The server ends by itself when the build's process does.
"""

import signal

_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import audiogen.pipeline  # noqa: F401
finally:
    signal.signal(signal.SIGINT, _handler)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
