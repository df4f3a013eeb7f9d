"""What the toolkit relies on in TensorBoard beyond its public API.

Everything else goes through TensorBoard's public surface:
`tensorboard.plugins.hparams.api` writes the HParams experiment and each
session's start, and `tensorboard.program.TensorBoard` (`configure`,
`launch`) starts a server with documented flags. Two things that API cannot
do are done here, and only here:

- Stopping a server it started (`launch`). `program.TensorBoard.launch()`
  returns only the URL and keeps its server thread forever, so a test, or
  `ktb board` on Ctrl-C, could not close the port. We pass a
  `server_class` factory (a documented constructor argument) that builds
  TensorBoard's own `program.WerkzeugServer(wsgi_app, flags)`, the server
  `launch()` would use, and keep a reference to it; it stops with
  `shutdown()` and `server_close()` from `socketserver`. Binding errors are
  `program.TensorBoardPortInUseError` and
  `program.TensorBoardServerException`, whose `.msg` is a sentence. A
  logdir URL whose scheme TensorFlow has no file system for is refused by
  `launch()` with `tf.errors.UnimplementedError` (`UnsupportedSchemeError`),
  whose `.message` names the scheme and the supported ones.
- Ending an HParams session (`session_end_summary`). The public API writes
  a session's start but not its end, which carries the status (success or
  failure) the dashboard shows per trial. We build it with
  `tensorboard.plugins.hparams.summary.session_end_pb(status)` and the
  `STATUS_SUCCESS` / `STATUS_FAILURE` values of
  `tensorboard.plugins.hparams.api_pb2`, as TensorBoard's own Keras
  callback does.
- Reading what `ktb report` needs beyond the event reader: whether a file
  is an events file (`backend.event_processing.io_wrapper`), the record
  checksum (`masked_crc32c` of TensorBoard's TensorFlow stub) to find a
  truncated file, and the HParams plugin's own parsers and tags
  (`plugins.hparams.metadata`) with the `STATUS_FAILURE` of a session end.

`RELIED_ON` lists these names; `tests/test_compat.py` fails, naming the
installed TensorBoard version, when one is gone. Known to work with
TensorBoard 2.21 (setup.cfg bounds the version accordingly).
"""

from tensorboard import default, program
from tensorboard.backend.event_processing import io_wrapper
from tensorboard.compat import tf as tb_tf
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary as hparams_summary

RELIED_ON = (
    ("tensorboard.program", "WerkzeugServer"),
    ("tensorboard.program", "TensorBoardPortInUseError"),
    ("tensorboard.program", "TensorBoardServerException"),
    ("tensorboard.plugins.hparams.summary", "session_end_pb"),
    ("tensorboard.plugins.hparams.api_pb2", "STATUS_SUCCESS"),
    ("tensorboard.plugins.hparams.api_pb2", "STATUS_FAILURE"),
    ("tensorboard.backend.event_processing.io_wrapper", "IsTensorFlowEventsFile"),
    ("tensorboard.compat.tensorflow_stub.pywrap_tensorflow", "masked_crc32c"),
    ("tensorboard.plugins.hparams.metadata", "SESSION_START_INFO_TAG"),
    ("tensorboard.plugins.hparams.metadata", "SESSION_END_INFO_TAG"),
    ("tensorboard.plugins.hparams.metadata", "EXPERIMENT_TAG"),
    ("tensorboard.plugins.hparams.metadata", "parse_session_start_info_plugin_data"),
    ("tensorboard.plugins.hparams.metadata", "parse_session_end_info_plugin_data"),
    ("tensorboard.plugins.hparams.metadata", "parse_experiment_plugin_data"),
)

PortInUseError = program.TensorBoardPortInUseError
ServerError = program.TensorBoardServerException
UnsupportedSchemeError = tb_tf.errors.UnimplementedError


def launch(**flags):
    """Starts TensorBoard with its default plugins in background threads.

    Args:
        **flags: TensorBoard's command-line flags by name (`logdir`, `host`,
            `port`, `load_fast`, `reload_interval`...), as
            `program.TensorBoard.configure` takes them.

    Returns:
        `(url, server)`: the server answers at `url` until
        `server.shutdown()` and `server.server_close()`.

    Raises:
        PortInUseError: `port` is taken.
        ServerError: `host` cannot be served.
        UnsupportedSchemeError: `logdir` is a URL TensorFlow cannot read.
        OSError: binding failed otherwise.
    """
    servers = []

    def make_server(wsgi_app, flags):
        server = program.WerkzeugServer(wsgi_app, flags)
        servers.append(server)
        return server

    tensorboard = program.TensorBoard(plugins=default.get_plugins(), server_class=make_server)
    tensorboard.configure(**flags)
    url = tensorboard.launch()
    return url, servers[0]


def session_end_summary(succeeded):
    """The serialized `Summary` that ends an HParams session with its status.

    Args:
        succeeded: `True` for `STATUS_SUCCESS`, `False` for `STATUS_FAILURE`.

    Returns:
        Bytes for `tf.summary.experimental.write_raw_pb`.
    """
    status = api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE
    return hparams_summary.session_end_pb(status).SerializeToString()


def is_events_file(path):
    """Whether `path` is named like a TensorFlow events file."""
    return io_wrapper.IsTensorFlowEventsFile(path)


def session_failed(session_end_info):
    """Whether a parsed HParams session end records a failure."""
    return session_end_info.status == api_pb2.STATUS_FAILURE


__all__ = [
    "PortInUseError", "ServerError", "UnsupportedSchemeError", "hparams_metadata",
    "is_events_file", "launch", "masked_crc32c", "session_end_summary", "session_failed",
]
