"""Keeps TensorFlow's start-up noise off a terminal, and nothing else.

On a machine without a GPU, `import tensorflow` prints, from C++ and before
absl's logging is initialised (so `TF_CPP_MIN_LOG_LEVEL` cannot silence
them), lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795934577.2 6362 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 00:00:1795934581.8 6362 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...

New users read them as failures. `filter_native_stderr()` puts a pipe in
front of file descriptor 2 and drops exactly those: C++ INFO lines, the absl
preamble, the CPU-feature hint, and the failed `cuInit` of a machine that
has no GPU driver; and the warning that no Google credentials were found,
which the first `gs://` access prints even for a public bucket (a bucket
that refuses anonymous access says so in the error itself). Every other
line, real C++ warnings and errors and all of Python's stderr, passes
through unchanged.
"""

import atexit
import os
import re
import sys
import threading

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "
    r"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ cuda_(platform|driver|diagnostics)\.cc:\d+\] "
    r"(failed call to cuInit|retrieving CUDA diagnostic|kernel driver does not appear|no NVIDIA GPU)"
    r"|To enable the following instructions: .* rebuild TensorFlow with"
    r"|W\d{4} \d\d:\d\d:\d+\.\d+ +\d+ google_auth_provider\.cc:\d+\] "
    r"All attempts to get a Google authentication bearer token failed)"
)


def is_noise(line):
    """Whether `line` is TensorFlow start-up noise (see the module docstring)."""
    return bool(NOISE.match(line))


def filter_native_stderr():
    """Filters file descriptor 2 of this process for the rest of its life.

    Returns False (and changes nothing) when stderr has no file descriptor,
    as under some test runners.
    """
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (AttributeError, OSError, ValueError):
        return False
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [line for line in lines if not is_noise(line.decode(errors="replace"))]
                if kept:
                    os.write(original, b"\n".join(kept) + b"\n")
            if pending and not is_noise(pending.decode(errors="replace")):
                os.write(original, pending)

    thread = threading.Thread(target=forward, name="ktb-stderr-filter", daemon=True)
    thread.start()

    def restore():
        # Hands fd 2 back and lets the thread drain the pipe, so the last
        # lines of a failing command are never lost at exit.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)
        thread.join(timeout=5)

    atexit.register(restore)
    return True
