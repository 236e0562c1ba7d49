"""What the library's fork server imports before it forks workers: the pipeline.

Ctrl-C is held off while it imports, then put back as it was (workers inherit
it, so Ctrl-C still stops a running session). An interrupt in the middle of
the import would otherwise print the server's traceback; the build itself
reports the interrupt in one line.
"""

import signal

_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import audiogen.pipeline  # noqa: F401
finally:
    signal.signal(signal.SIGINT, _handler)
