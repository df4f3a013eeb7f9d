"""Figure output shared by the plotting callbacks.

Figures are made with `matplotlib.figure.Figure` directly, never with
`pyplot`: no window opens, no GUI backend is needed and no figure is kept in
pyplot's global registry (a figure is freed as soon as it is unreferenced).
Each figure is built by a `*_axes` function and filled by a `fill_*` one
(`_history`, `_confusion`), so that `ReusedFigure` can redraw it with new
data; `FigureWorker` draws off the training thread.
"""

import collections
import concurrent.futures
import os
import threading
import warnings

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg

from . import _atomic_io
from . import _fs
from . import _writable
from ._copying import CopiesConfiguration

# Matplotlib is not documented as thread-safe, and the callbacks draw on
# their own worker threads: one drawing at a time. Reentrant, since a
# shared figure is saved while its user holds it.
_DRAW_LOCK = threading.RLock()
_SHARED = collections.OrderedDict()  # key -> figure, most recent last
_SHARED_LIMIT = 4


def figure_to_image(figure):
    """Renders `figure` at its own dpi as a uint8 RGBA tensor [1, h, w, 4].

    The shape is the one `tf.summary.image` expects, which encodes it as
    PNG. Rendering into the Agg buffer skips a PNG encode and decode.
    """
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    with _DRAW_LOCK:
        canvas.draw()
        pixels = np.array(canvas.buffer_rgba())
    return tf.constant(pixels[None])


class ReusedFigure(CopiesConfiguration):
    """Keeps the last figure and refills it while its layout is unchanged.

    Refilling the lines or cells of a drawn figure and drawing it again
    costs about half of building and drawing a new one, and a figure is
    drawn at every logged epoch. Not thread-safe: one user thread only. A
    deep copy is empty.
    """

    def __init__(self):
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_layout": None, "_figure": None}

    def image(self, layout, build, fill):
        """`figure_to_image` of the figure `build()` made for `layout` (or
        of the kept one when `layout` is the same), after `fill(figure)`."""
        if layout != self._layout:
            self._figure, self._layout = build(), layout
        fill(self._figure)
        return figure_to_image(self._figure)


def draw_shared(key, build, fill, use):
    """Returns `use(figure)` for a figure kept across callbacks under `key`.

    The figure `build()` made for `key` (its layout: what fixes its axes) is
    kept with an Agg canvas and refilled by `fill(figure)`, so each trial of
    a search saves its history plot at about half the cost of a new figure
    (fonts, tick machinery and renderer are reused). It is used under the
    draw lock, so callbacks on different worker threads take turns; the
    last `_SHARED_LIMIT` layouts are kept.
    """
    with _DRAW_LOCK:
        figure = _SHARED.pop(key, None)
        if figure is None:
            figure = build()
            FigureCanvasAgg(figure)
        _SHARED[key] = figure
        while len(_SHARED) > _SHARED_LIMIT:
            _SHARED.popitem(last=False)
        fill(figure)
        return use(figure)


def save_figure(figure, path):
    """Saves `figure` to `path` (format from the extension) atomically.

    The figure is written to a temporary file in the same directory and then
    moved over `path`, so a reader never sees a half-written file; on a URL
    it is written whole in one object write (`_atomic_io`).
    """
    _fs.makedirs(_fs.dirname(path))
    file_format = os.path.splitext(path)[1][1:]

    def draw(file):
        with _DRAW_LOCK:
            figure.savefig(file, format=file_format)

    _atomic_io.write_atomically(path, draw)


class FigureWorker(CopiesConfiguration):
    """Runs figure drawing and writing on one background thread, in order.

    Drawing a figure takes a tenth of a second or more of Python; on a
    thread of its own it overlaps with training, which releases the GIL while
    TensorFlow computes. The thread starts with the first task; `close()`
    waits for every task and stops it. A task that fails to draw is
    reported by one warning (the first failure only), in the calling
    thread: a figure must not stop training. A task that fails to write
    (a full disk, a directory gone) raises `LogDirError` there instead,
    since every later write would fail too. A deep copy (KerasTuner copies
    the callbacks of each trial) is a new, idle worker.
    """

    def __init__(self, owner):
        self.owner = owner
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_executor": None, "_futures": [], "_warned": False}

    def submit(self, function, *args):
        """Queues `function(*args)` after the tasks already queued."""
        self.report_failures()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="figure-worker"
            )
        self._futures.append(self._executor.submit(function, *args))

    def report_failures(self, wait=False):
        """Warns about the first failed task; with `wait`, waits for all."""
        if wait:
            concurrent.futures.wait(self._futures)
        done = [future for future in self._futures if future.done()]
        self._futures = [f for f in self._futures if not f.done()]
        failures = [f.exception() for f in done if f.exception() is not None]
        for failure in failures:
            if isinstance(failure, _writable.LogDirError):
                raise failure  # Already says what failed and what is intact.
            if isinstance(failure, (OSError, tf.errors.OpError)):
                reason = getattr(failure, "message", None) or failure
                raise _writable.LogDirError(
                    f"{self.owner} could not write a figure: {reason}. What "
                    "it wrote before is intact (events are checksummed "
                    "records; files are replaced whole)."
                ) from failure
        if failures and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.owner}: could not draw or write a figure, training "
                f"goes on: {failures[0]!r}",
                stacklevel=3,
            )

    def close(self):
        """Waits for every task, reports failures and stops the thread."""
        try:
            self.report_failures(wait=True)
        finally:
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
