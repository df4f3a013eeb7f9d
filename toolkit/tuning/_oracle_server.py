"""The chief of a distributed search: it serves the oracle to the workers.

keras-tuner reads a process's role from the environment (which
`ktb tune --chief/--worker` sets through `set_distributed_role`). The chief
runs no trials: it serves the oracle to the workers over keras-tuner's gRPC
service until the search is over. keras-tuner's own serving loop cannot be
bounded and lingers up to 20 s after the last trial, so `serve_oracle`
drives keras-tuner's servicer with its own loop: a short poll, and an
optional time limit for a chief whose workers never return.
"""

import time

from ..errors import ConfigError
from . import _keras_tuner_compat as compat


def serve_oracle(oracle, *, poll_s=0.2, timeout_s=None):
    """Serves `oracle` to the workers until the search is over.

    Args:
        oracle: the chief's keras-tuner oracle.
        poll_s: seconds between two looks at whether the search is over.
            Defaults to `0.2`.
        timeout_s: the longest the chief serves, or `None` for no limit.
            Defaults to `None`.

    Raises:
        ConfigError: the address in the environment cannot be listened on.
        TimeoutError: the search did not finish within `timeout_s`.
    """
    from concurrent import futures

    import grpc

    address = compat.oracle_address()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = compat.add_oracle_service(server, oracle)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ConfigError(f"--chief: cannot listen on {address}")
    server.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not compat.search_is_over(servicer, oracle):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the search did not finish within {timeout_s} s")
            time.sleep(poll_s)
    finally:
        server.stop(grace=1)
