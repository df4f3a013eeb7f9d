"""The manifest on a URL: numbered generations, each sealed by its checksum.

Where a rename may be a copy and a delete (`gs://`, `s3://`, `hdfs://`), a
manifest cannot replace the last one atomically. Each save instead writes a
new generation, `manifest.<n>.json` with `n` above every generation there
(torn ones included, so none is ever overwritten), holding the manifest
and `manifest_sha256`, the sha256 of its canonical JSON. The new
generation is read back and checked before any older one (or any pruned
checkpoint) is deleted, so at every instant the newest generation that
parses, matches its checksum and passes the schema is a complete manifest:
writing it is the commit point of a save. A reader takes that one and
ignores newer ones that do not verify (a save killed mid-write).
"""

import hashlib
import json
import re

from .. import _fs
from . import _manifest_schema

_GENERATION = re.compile(r"manifest\.(\d+)\.json")
_SEAL = "manifest_sha256"


def generations(directory):
    """`[(n, name), ...]` of the generation files in `directory`, newest first."""
    found = (_GENERATION.fullmatch(name) for name in _fs.listdir(directory))
    return sorted(((int(m[1]), m[0]) for m in found if m), reverse=True)


def _canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode()


def seal(document):
    """The bytes of a generation holding `document` and its checksum."""
    digest = hashlib.sha256(_canonical(document)).hexdigest()
    return json.dumps({**document, _SEAL: digest}, indent=1,
                      allow_nan=False).encode()


def unseal(raw):
    """The manifest a generation holds; ValueError when torn or altered."""
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get(_SEAL), str):
        raise ValueError(f"no {_SEAL!r}")
    digest = document.pop(_SEAL)
    if hashlib.sha256(_canonical(document)).hexdigest() != digest:
        raise ValueError(f"{_SEAL} mismatch")
    _manifest_schema.validate(document)
    return document


def write(directory, document):
    """Writes `document` as the next generation, verifies it, then deletes
    the older generations.

    Raises:
        OSError: (`EIO`) when the generation read back differs; the older
            generations are then kept, and stay the valid manifest.
    """
    existing = generations(directory)
    number = existing[0][0] + 1 if existing else 1
    path = _fs.join(directory, f"manifest.{number:06d}.json")
    _fs.write_bytes(path, seal(document))
    try:
        if _canonical(unseal(_fs.read_bytes(path))) != _canonical(document):
            raise ValueError("holds another manifest")
    except ValueError as e:
        raise OSError(5, f"manifest generation read back is not valid ({e})",
                      path) from e
    for _, name in existing:
        _fs.remove_quietly(_fs.join(directory, name))


def read(directory):
    """The newest generation that verifies, as `(document, file name)`.

    Returns:
        None when `directory` holds no generation.

    Raises:
        ValueError: naming each generation's fault when none verifies.
    """
    faults = []
    for _, name in generations(directory):
        try:
            return unseal(_fs.read_bytes(_fs.join(directory, name))), name
        except (ValueError, FileNotFoundError) as e:  # Torn, or pruned meanwhile.
            faults.append(f"{name}: {e}")
    if faults:
        raise ValueError("no manifest generation verifies: " + "; ".join(faults))
    return None
