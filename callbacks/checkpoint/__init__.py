"""`Checkpoint`: best top-k and last checkpoints, atomic writes, exact resume.

The callback is in `_callback`; the manifest (`_manifest`, its schema in
`_manifest_schema`, its generations on a URL in `_generations`), loading
(`_restore`), the monitored metric (`_monitor`) and the crash-safe save
steps (`_files`) are its private helpers.
"""

from ._callback import Checkpoint
from ._files import CheckpointWriteError
from ._manifest import CheckpointCorruptError
from ._restore import ResumeState

__all__ = [
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointWriteError",
    "ResumeState",
]
