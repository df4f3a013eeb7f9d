"""What a search's trials say about themselves, read for `ktb report`.

A trial's HParams session (its values, the declared names, whether it
ended as a failure) and the reason a failed trial logged as text; both are
read through TensorBoard's own parsers, named in `_tensorboard_compat`.
"""

TRIAL_STATUS_TAG = "trial_status"
FAILED_PREFIX = "FAILED: "


def failure_reason(multiplexer, tb_run):
    """The reason a failed trial gave, or "reason not logged"."""
    from tensorboard.util import tensor_util

    try:
        events = multiplexer.Tensors(tb_run, TRIAL_STATUS_TAG)
    except KeyError:
        events = ()
    for event in events[-1:]:
        text = tensor_util.make_ndarray(event.tensor_proto).item()
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        if text.startswith(FAILED_PREFIX):
            return text[len(FAILED_PREFIX):].strip() or "reason not logged"
    return "reason not logged"


def trial_hparams(tag_to_content):
    """`(session, declared names, failed)` of one TB run.

    `session` is `{name: value}`, or None when the run holds no session
    start (a search directory, which holds the experiment config).
    """
    from ._tensorboard_compat import hparams_metadata as metadata
    from ._tensorboard_compat import session_failed

    session, declared, failed = None, [], False
    for tag, content in tag_to_content.items():
        if tag == metadata.SESSION_START_INFO_TAG:
            info = metadata.parse_session_start_info_plugin_data(content)
            session = {name: _value(value) for name, value in info.hparams.items()}
        elif tag == metadata.EXPERIMENT_TAG:
            experiment = metadata.parse_experiment_plugin_data(content)
            declared = [info.name for info in experiment.hparam_infos]
        elif tag == metadata.SESSION_END_INFO_TAG:
            end = metadata.parse_session_end_info_plugin_data(content)
            failed = session_failed(end)
    return session, declared, failed


def _value(value):
    """A `google.protobuf.Value` as a Python number, string or bool."""
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind else None
