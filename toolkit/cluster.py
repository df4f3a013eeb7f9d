"""The cluster of `ktb train --strategy multi-worker`, checked before TensorFlow loads.

`tf.distribute.MultiWorkerMirroredStrategy` reads its cluster from the
`TF_CONFIG` environment variable, the standard way: a JSON object with the
address of every task and the task this process is.

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'

A malformed `TF_CONFIG` would otherwise surface as a TensorFlow traceback,
or as a worker waiting forever for peers that do not exist, so its shape is
checked here, in one line naming what is wrong. Which task is the chief is
not decided here: the strategy says so itself (`should_checkpoint`,
`should_save_summary`) once it runs.
"""

import json
import re

from .errors import ConfigError

# The task types MultiWorkerMirroredStrategy trains with.
TASK_TYPES = ("chief", "worker")
EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
           '"task": {"type": "worker", "index": 0}}')
_ADDRESS = re.compile(r"^\S+:\d{1,5}$")


def check_tf_config(text):
    """Checks the value of `TF_CONFIG` for a multi-worker run.

    Args:
        text: the value of the `TF_CONFIG` environment variable, or None
            when it is not set.

    Returns:
        The parsed `TF_CONFIG` as a dict.

    Raises:
        ConfigError: `TF_CONFIG` is unset or empty, not a JSON object, has no
            `cluster` of `chief`/`worker` address lists, or a `task` whose
            type is not in the cluster or whose index is out of range.
    """
    if not text or not text.strip():
        raise ConfigError(
            "--strategy multi-worker needs TF_CONFIG, the cluster and this "
            f"process's task as JSON, e.g. TF_CONFIG='{EXAMPLE}'"
        )
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ConfigError(
            f"TF_CONFIG is not valid JSON ({error}); expected e.g. {EXAMPLE}"
        ) from None
    if not isinstance(config, dict):
        raise ConfigError(
            f"TF_CONFIG must be a JSON object, received: {text.strip()!r}; "
            f"expected e.g. {EXAMPLE}"
        )
    cluster = _check_cluster(config.get("cluster"))
    task = config.get("task")
    if not isinstance(task, dict):
        raise ConfigError(
            f"TF_CONFIG: \"task\" must be an object with \"type\" and \"index\", "
            f"received: {json.dumps(task)}"
        )
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster:
        raise ConfigError(
            f"TF_CONFIG: task type {json.dumps(kind)} is not in the cluster, "
            f"which has {', '.join(sorted(cluster))}"
        )
    if isinstance(index, bool) or not isinstance(index, int):
        raise ConfigError(
            f"TF_CONFIG: task index must be an integer, received: {json.dumps(index)}"
        )
    count = len(cluster[kind])
    if not 0 <= index < count:
        raise ConfigError(
            f"TF_CONFIG: task index {index} is out of range: the cluster has "
            f"{count} {kind!r} task(s), indices 0 to {count - 1}"
        )
    return config


def _check_cluster(cluster):
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError(
            "TF_CONFIG: \"cluster\" must map task types to lists of host:port "
            f"addresses, received: {json.dumps(cluster)}; expected e.g. {EXAMPLE}"
        )
    for kind, addresses in cluster.items():
        if kind not in TASK_TYPES:
            raise ConfigError(
                f"TF_CONFIG: task type {kind!r} in the cluster is not one "
                f"MultiWorkerMirroredStrategy trains with ({', '.join(TASK_TYPES)})"
            )
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and _ADDRESS.match(a) for a in addresses)):
            raise ConfigError(
                f"TF_CONFIG: cluster {kind!r} must be a non-empty list of "
                f"host:port addresses, received: {json.dumps(addresses)}"
            )
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(
            f"TF_CONFIG: a cluster has at most one chief, received: "
            f"{json.dumps(cluster['chief'])}"
        )
    return cluster
