"""`pending.json`: what the last save was about to add and prune.

A save records the file it adds and the files it prunes before its first
rename. A process killed between that rename and the manifest's leaves an
unlisted file; the record is how the next start knows that the file is the
callback's own and may go, while any other unlisted file stays.
"""

import json
import os

from .. import _atomic_io
from .. import _fs

PENDING_NAME = "pending.json"


def write_pending(directory, name, dropped):
    """Records, before a save's renames, the files it adds and prunes."""
    document = {"file": name, "dropped": list(dropped)}
    path = _fs.join(directory, PENDING_NAME)
    _atomic_io.write_atomically(path, json.dumps(document).encode(),
                                private=True)


def read_pending(directory):
    """The file names the last save recorded (empty when none or damaged)."""
    try:
        document = json.loads(_fs.read_bytes(_fs.join(directory, PENDING_NAME)))
        names = [document["file"], *document["dropped"]]
    except (*_fs.errors(), ValueError, TypeError, KeyError):
        return set()  # Without a readable record, no unlisted file is ours.
    # A name with a separator would reach outside the directory.
    return {n for n in names if isinstance(n, str) and os.path.basename(n) == n}
