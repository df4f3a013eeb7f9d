"""keras-tuner's distributed mode: who is the chief, and serving the oracle.

keras-tuner reads a process's role from the environment
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`,
which `ktb tune --chief/--worker` sets). The chief runs no trials: it
serves the oracle to the workers over keras-tuner's gRPC service until the
search is over. keras-tuner's own serving loop (`oracle_chief.start_server`)
cannot be bounded and lingers up to 20 s after the last trial, so
`serve_oracle` drives keras-tuner's servicer with its own loop: a short
poll, and an optional time limit for a chief whose workers never return.

`toolkit.tuning` calls them from `search` and re-exports them.
"""

import os
import time

from .errors import ConfigError


def is_chief():
    """Whether this process is keras-tuner's chief (serves the oracle)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" in os.environ.get(
        "KERASTUNER_TUNER_ID", ""
    )


def serve_oracle(oracle, *, poll_s=0.2, timeout_s=None):
    """Serves `oracle` to the workers until the search is over.

    keras-tuner's own server polls every 20 s once the search has stopped
    and never gives up; this one polls every `poll_s` and raises
    `TimeoutError` after `timeout_s` seconds (when not `None`).

    Raises:
        ConfigError: the address in the environment cannot be listened on.
        TimeoutError: the search did not finish within `timeout_s`.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = (
        f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ConfigError(f"--chief: cannot listen on {address}")
    server.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the search did not finish within {timeout_s} s")
            time.sleep(poll_s)
    finally:
        server.stop(grace=1)
