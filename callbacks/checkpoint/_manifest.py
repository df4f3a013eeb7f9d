"""The checkpoint directory's `manifest.json`: naming, retention, validation.

The manifest is the only source of truth about which checkpoint files are
valid. Layout (version 1)::

    {
      "format": "keras-tb-toolkit.checkpoint", "version": 1,
      "monitor": "val_loss", "mode": "min",
      "best": 0.1234, "best_file": "epoch=0003-step=000300-val_loss=0.1234.keras",
      "next_seq": 5,
      "checkpoints": [            # oldest first
        {"file": "...", "seq": 4, "epoch": 2, "batch": 100,
         "end_of_epoch": true, "global_step": 300, "value": 0.1234,
         "best_so_far": 0.1234, "kind": ["best", "last"],
         "weights_only": false, "sha256": "<64 hex>", "size": 1163107}
      ]
    }

`epoch` is the 0-based index that callbacks receive, `batch` the number of
batches of that epoch trained when the file was written (all of them when
`end_of_epoch`), `global_step` the optimizer's iteration count. `value` is
the monitored metric (`null` when absent from the logs; `"nan"`, `"inf"` or
`"-inf"` when not finite), `best_so_far` the best finite value seen up to
and including this checkpoint. File names count epochs from 1, like
`keras.callbacks.ModelCheckpoint`'s `{epoch}`. On a URL the manifest is the
newest verified generation `manifest.<n>.json` instead (`_generations`).
"""

import json
import math
import re
import warnings

from .. import _atomic_io
from .. import _fs
from . import _generations
from . import _pending
from . import _manifest_schema
from . import _monitor
from ._manifest_schema import FORMAT, KINDS, VERSION
from ._manifest_schema import is_checkpoint_name

MANIFEST_NAME = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


class CheckpointCorruptError(ValueError):
    """No checkpoint in the directory (or its manifest) can be trusted."""


def new_entry(seq, epoch, batch, end_of_epoch, global_step, value, best,
              weights_only):
    """A manifest entry; `file`, `kind`, `sha256` and `size` come later."""
    return {
        "file": None, "seq": seq, "epoch": int(epoch), "batch": int(batch),
        "end_of_epoch": end_of_epoch, "global_step": int(global_step),
        "value": value, "best_so_far": best, "kind": [],
        "weights_only": weights_only, "sha256": None, "size": 0,
    }


def checkpoint_name(entry, monitor, taken):
    """Returns a file name for `entry` that is not in `taken`."""
    extension = ".weights.h5" if entry["weights_only"] else ".keras"
    parts = [f"epoch={entry['epoch'] + 1:04d}"]
    if not entry["end_of_epoch"]:
        parts.append(f"batch={entry['batch']:04d}")
    parts.append(f"step={entry['global_step']:06d}")
    if entry["value"] is not None:
        parts.append(f"{safe_name(monitor)}={entry['value']:.4f}")
    stem = "-".join(parts)
    name, version = stem + extension, 2
    while name in taken:
        name, version = f"{stem}-v{version}{extension}", version + 1
    return name


def safe_name(monitor):
    """`monitor` as it appears in a file name."""
    return _UNSAFE.sub("_", monitor)


def retain(entries, save_top_k, keep_last, mode):
    """Splits `entries` into (kept, dropped) and sets each kept `kind`.

    Kept: the `save_top_k` best finite values and the `keep_last` newest.
    """
    newest = {e["seq"] for e in sorted(entries, key=_seq)[-keep_last:]}
    finite = [e for e in entries if _monitor.is_finite(e["value"])]
    ranked = sorted(finite, key=_monitor.rank_key(mode))[:save_top_k]
    best = {e["seq"] for e in ranked}
    kept, dropped = [], []
    for entry in sorted(entries, key=_seq):
        chosen = (entry["seq"] in best, entry["seq"] in newest)
        entry["kind"] = [kind for kind, yes in zip(KINDS, chosen) if yes]
        (kept if entry["kind"] else dropped).append(entry)
    return kept, dropped


def publish(directory, temp_path, entry, header, kept, dropped_files):
    """Commits a written checkpoint, then the manifest, then prunes.

    Pruned files are deleted only after the manifest that no longer names
    them is durably in place, so every file a manifest names exists. The
    new file and the pruned ones are first recorded in `pending.json`, the
    only unlisted files `adopt` ever deletes. On a URL the file is uploaded
    under its own new name and read back (`_atomic_io.commit_file`), and
    the manifest generation it is listed in commits it.
    """
    final_path = _fs.join(directory, entry["file"])
    # Named before the rename, so that a kill between the rename and the
    # manifest leaves a record that these unlisted files are the callback's.
    _pending.write_pending(directory, entry["file"], dropped_files)
    try:
        entry["sha256"], entry["size"] = _atomic_io.commit_file(
            temp_path, final_path
        )
    finally:
        _atomic_io.remove_quietly(temp_path)
    write(directory, header, kept)
    for name in dropped_files:
        try:
            _atomic_io.remove_quietly(_fs.join(directory, name))
        except _fs.errors():
            pass  # Named by pending.json: removed on the next start.


def write(directory, header, kept):
    """Atomically writes the manifest listing `kept` under `header`."""
    ranked = [e for e in kept if "best" in e["kind"]]
    ranked.sort(key=_monitor.rank_key(header["mode"]))
    document = {
        "format": FORMAT,
        "version": VERSION,
        **header,
        "best_file": ranked[0]["file"] if ranked else None,
        "checkpoints": [
            {**e, "value": _encode(e["value"])} for e in sorted(kept, key=_seq)
        ],
    }
    if not _fs.is_local(directory):
        _generations.write(directory, document)
        return
    data = json.dumps(document, indent=1, allow_nan=False).encode()
    path = _fs.join(directory, MANIFEST_NAME)
    _atomic_io.write_atomically(path, data, private=True)


def read(directory):
    """Returns the validated manifest of `directory`, or None if absent.

    Raises:
        CheckpointCorruptError: if the manifest is not valid (on a URL:
            when no generation is).
    """
    local = _fs.is_local(directory)
    path = _fs.join(directory, MANIFEST_NAME if local else "manifest.<n>.json")
    try:
        if not local:
            found = _generations.read(directory)
            if found is None:
                return None
            document = found[0]
        else:
            document = json.loads(_fs.read_bytes(path))
            _manifest_schema.validate(document)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError as e:  # json.JSONDecodeError is a ValueError too.
        raise CheckpointCorruptError(
            f"Checkpoint manifest {path!r} is not valid ({e}); move the "
            "directory aside or delete the manifest to start afresh."
        ) from e
    for entry in document["checkpoints"]:
        entry["value"] = _decode(entry["value"])
    return document


def verify(directory, entry):
    """Returns None when the file matches the manifest, else the reason."""
    path = _fs.join(directory, entry["file"])
    try:
        digest, size = _atomic_io.file_digest(path)
    except _fs.errors() as e:
        reason = getattr(e, "strerror", None) or getattr(e, "message", None)
        return f"cannot be read ({reason or e})"
    if size != entry["size"]:
        return f"size {size} bytes, manifest says {entry['size']}"
    if digest != entry["sha256"]:
        return "sha256 checksum mismatch"
    return None


def adopt(directory, monitor, mode, rejected=()):
    """State to continue from the manifest in `directory`, if any.

    Deletes the checkpoint files a killed save left unlisted, which
    `pending.json` names; any other unlisted checkpoint file is left in
    place with a warning, since nothing proves the callback wrote it.
    Files in `rejected` (found corrupt) leave the next manifest.

    Returns:
        `(entries to keep, rejected files still listed, next seq)`.

    Raises:
        ValueError: when the manifest ranks another monitor or mode.
        CheckpointCorruptError: when checkpoint files lie in the directory
            without a manifest (`restore` rebuilds it).
    """
    manifest = read(directory)
    if manifest is None:
        found = orphans(directory, set())
        if found:
            raise CheckpointCorruptError(
                f"Checkpoint directory {directory!r} holds checkpoint files "
                f"but no {MANIFEST_NAME} ({', '.join(sorted(found))}); call "
                "restore() to rebuild it from the files that load, or move "
                "them aside."
            )
        return [], [], 1
    if (manifest["monitor"], manifest["mode"]) != (monitor, mode):
        raise ValueError(
            f"Checkpoint directory {directory!r} ranks "
            f"{manifest['monitor']!r} ({manifest['mode']}), but this "
            f"callback has monitor={monitor!r} ({mode}); use another "
            "directory or the same monitor and mode."
        )
    entries = manifest["checkpoints"]
    unlisted = orphans(directory, {e["file"] for e in entries})
    ours = _pending.read_pending(directory)
    for name in unlisted:
        if name in ours:
            _atomic_io.remove_quietly(_fs.join(directory, name))
    foreign = sorted(set(unlisted) - ours)
    if foreign:
        warnings.warn(
            f"Checkpoint: {directory!r} holds files its {MANIFEST_NAME} does "
            f"not list, left in place: {', '.join(foreign)}.",
            stacklevel=4,
        )
    kept = [e for e in entries if e["file"] not in rejected]
    stale = [e["file"] for e in entries if e["file"] in rejected]
    return kept, stale, manifest["next_seq"]


def newest_valid(directory, manifest, load):
    """Finds the newest checkpoint that matches its checksum and loads.

    Args:
        directory: the checkpoint directory.
        manifest: its manifest, as `read` returns it.
        load: a callable(path) that loads the file or raises.

    Returns:
        `(entry, what load returned, [(file, fault), ...] for newer files)`.

    Raises:
        CheckpointCorruptError: naming the directory and each file's fault
            when none is valid.
    """
    faults = []
    for entry in sorted(manifest["checkpoints"], key=_seq, reverse=True):
        fault = verify(directory, entry)
        if fault is None:
            try:
                return entry, load(_fs.join(directory, entry["file"])), faults
            except Exception as e:  # Any load failure means "invalid".
                fault = f"does not load ({type(e).__name__}: {e})"
        faults.append((entry["file"], fault))
    raise CheckpointCorruptError(
        f"No valid checkpoint in {directory!r}: {describe(faults)}"
    )


def describe(faults):
    return "; ".join(f"{name}: {fault}" for name, fault in faults)


def orphans(directory, named):
    """Checkpoint-like files in `directory` that the manifest does not name."""
    names = _fs.listdir(directory)
    return [n for n in names if is_checkpoint_name(n) and n not in named]


def _seq(entry):
    return entry["seq"]


def _encode(value):
    return value if value is None or math.isfinite(value) else str(value)


def _decode(value):
    return float(value) if isinstance(value, str) else value
