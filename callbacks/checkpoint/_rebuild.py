"""Rebuilding a lost `manifest.json` from the checkpoint files that load.

Without a manifest the files are still the run's history: their names hold
the epoch, the batch of a mid-epoch save, the optimizer step and the
monitored value (to 4 decimals). Each file is trusted only once it loads;
the checksums of the rebuilt manifest are those of the files as found.
"""

import re
import warnings

from .. import _atomic_io
from .. import _fs
from . import _manifest
from . import _monitor

_PARTS = re.compile(
    r"epoch=(?P<epoch>\d+)(-batch=(?P<batch>\d+))?-step=(?P<step>\d+)"
    r"(-(?P<metric>[A-Za-z0-9_.]+)=(?P<value>-?[0-9.]+|nan|inf|-inf))?"
    r"(-v\d+)?\.(?P<ext>keras|weights\.h5)"
)


def rebuild(directory, monitor, mode, load):
    """Writes a manifest listing the checkpoint files of `directory` that load.

    Files are loaded oldest first, so the last one loaded (the state `load`
    leaves behind) is the newest that is valid.

    Args:
        directory: the checkpoint directory, which has no manifest.
        monitor: the callback's monitor; a value saved under another name
            is not ranked.
        mode: `"min"` or `"max"`.
        load: a callable(path) that loads the file or raises.

    Returns:
        None when the directory holds no checkpoint file, else `(newest
        valid entry, what load returned for it, [])`.

    Raises:
        CheckpointCorruptError: naming each file when none of them loads.
    """
    parsed = [_parse(n, monitor) for n in _manifest.orphans(directory, set())]
    parsed = sorted((p for p in parsed if p), key=_order)
    if not parsed:
        return None
    valid, faults, loaded, last_ok = [], [], None, None
    for entry in parsed:
        try:
            loaded = load(_fs.join(directory, entry["file"]))
        except Exception as e:  # Any load failure means "invalid".
            faults.append((entry["file"], f"does not load ({type(e).__name__})"))
            continue
        valid.append(entry)
        last_ok = loaded
    # On a URL the manifest is a series of generations (`_generations`).
    manifest = (_manifest.MANIFEST_NAME if _fs.is_local(directory)
                else "valid manifest.<n>.json generation")
    if not valid:
        raise _manifest.CheckpointCorruptError(
            f"No valid checkpoint in {directory!r}: it has no "
            f"{manifest} and none of its files loads "
            f"({_manifest.describe(faults)})."
        )
    if faults and faults[-1][0] == parsed[-1]["file"]:
        # The failed load may have left the model half-written.
        last_ok = load(_fs.join(directory, valid[-1]["file"]))
    best = None
    for seq, entry in enumerate(valid, start=1):
        best = _monitor.best_of(best, entry["value"], mode)
        entry.update(seq=seq, best_so_far=best)
        path = _fs.join(directory, entry["file"])
        entry["sha256"], entry["size"] = _atomic_io.file_digest(path)
    kept, _ = _manifest.retain(valid, len(valid), len(valid), mode)
    header = {"monitor": monitor, "mode": mode, "best": best,
              "next_seq": len(valid) + 1}
    _manifest.write(directory, header, kept)
    skipped = f"; left unlisted: {_manifest.describe(faults)}" if faults else ""
    warnings.warn(
        f"Checkpoint: {directory!r} had no {manifest}; "
        f"rebuilt it from the {len(valid)} checkpoint file(s) that load"
        f"{skipped}; resuming from {valid[-1]['file']!r}.",
        stacklevel=4,
    )
    return valid[-1], last_ok, []


def _parse(name, monitor):
    match = _PARTS.fullmatch(name)
    if match is None:
        return None
    batch = match["batch"]
    value = None
    if match["metric"] == _manifest.safe_name(monitor) and match["value"]:
        value = float(match["value"])
    entry = _manifest.new_entry(
        0, int(match["epoch"]) - 1, int(batch or 0), batch is None,
        int(match["step"]), value, None, match["ext"] != "keras",
    )
    entry["file"] = name
    return entry


def _order(entry):
    # At one step a mid-epoch save precedes the end-of-epoch one.
    return entry["global_step"], entry["epoch"], entry["end_of_epoch"]
