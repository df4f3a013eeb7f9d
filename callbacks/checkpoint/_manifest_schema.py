"""What a checkpoint directory's `manifest.json` must hold.

`validate` checks a parsed manifest field by field (see `_manifest` for the
layout), so that a file named by a damaged or hand-edited manifest is never
trusted: names must look like the checkpoints the callback writes (no path
separators), counts must be non-negative integers, and `seq` and `file`
must be unique.
"""

import re

FORMAT = "keras-tb-toolkit.checkpoint"
VERSION = 1
KINDS = ("best", "last")
_NAME = re.compile(
    r"epoch=\d+(-batch=\d+)?-step=\d+[A-Za-z0-9_.=+-]*\.(keras|weights\.h5)"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_checkpoint_name(name):
    return _NAME.fullmatch(name) is not None


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value):
    return value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


_FIELDS = {
    "format": lambda v: v == FORMAT,
    "version": lambda v: v == VERSION,
    "monitor": lambda v: isinstance(v, str),
    "mode": lambda v: v in ("min", "max"),
    "best": _is_number,
    "best_file": lambda v: v is None or isinstance(v, str),
    "next_seq": lambda v: _is_count(v) and v >= 1,
    "checkpoints": lambda v: isinstance(v, list),
}
_ENTRY_FIELDS = {
    "file": lambda v: isinstance(v, str) and is_checkpoint_name(v),
    "seq": _is_count,
    "epoch": _is_count,
    "batch": _is_count,
    "end_of_epoch": lambda v: isinstance(v, bool),
    "global_step": _is_count,
    "value": lambda v: _is_number(v) or v in ("nan", "inf", "-inf"),
    "best_so_far": _is_number,
    "kind": lambda v: isinstance(v, list) and set(v) <= set(KINDS),
    "weights_only": lambda v: isinstance(v, bool),
    "sha256": lambda v: isinstance(v, str) and bool(_SHA256.fullmatch(v)),
    "size": _is_count,
}


def validate(document):
    """Raises ValueError naming the first field that is not valid."""
    _check_fields(document, _FIELDS, "the manifest")
    entries = document["checkpoints"]
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else entry
        where = f"checkpoint {name!r}"
        _check_fields(entry, _ENTRY_FIELDS, where)
        if entry["seq"] >= document["next_seq"]:
            raise ValueError(f"{where} has a seq not below next_seq")
    for key in ("seq", "file"):
        if len({e[key] for e in entries}) != len(entries):
            raise ValueError(f"two checkpoints share a {key!r}")


def _check_fields(obj, fields, where):
    if not isinstance(obj, dict):
        raise ValueError(f"{where} is not a JSON object")
    for key, valid in fields.items():
        if key not in obj:
            raise ValueError(f"{where} has no {key!r}")
        if not valid(obj[key]):
            raise ValueError(f"{where} has a bad {key!r}: {obj[key]!r}")
