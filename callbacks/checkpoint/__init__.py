"""`Checkpoint`: best top-k and last checkpoints, atomic writes, exact resume.

The callback is in `_callback`; the manifest (`_manifest`, its schema in
`_manifest_schema`), loading (`_restore`), the monitored metric
(`_monitor`) and the crash-safe save steps (`_files`) are its private
helpers.
"""

from ._callback import Checkpoint, ResumeState
from ._files import CheckpointWriteError
from ._manifest import CheckpointCorruptError

__all__ = [
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointWriteError",
    "ResumeState",
]
