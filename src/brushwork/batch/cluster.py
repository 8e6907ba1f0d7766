"""Starting or joining Ray: the one place that knows how brushwork talks to a cluster.

``--engine local`` starts a private Ray instance with this machine's CPUs (nothing else is used);
``--engine ray`` joins a running cluster (``--address auto`` or ``ray://HOST:PORT``). A Ray that is
already initialised in this process (a test fixture, a notebook) is used as it is and left running.
Ray is an optional extra: without it every entry point says how to install it, in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from brushwork.config import BatchConfig
from brushwork.errors import BrushworkError, ConfigError

INSTALL_HINT = 'this needs Ray: pip install ".[cluster]" in a brushwork clone (it is not on PyPI)'


class ClusterError(BrushworkError):
    """Ray missing, or a cluster that cannot be reached or fails part-way."""

    exit_code = 1


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra, not only ray core
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


@contextlib.contextmanager
def ray_session(config: BatchConfig, num_cpus: int | None = None) -> Iterator[object]:
    """Ray initialised for ``config``: a local instance with ``num_cpus`` (default: this machine's)
    or the cluster at ``config.address``; shut down afterwards only if this call started it."""
    ray = require_ray()
    ray.data.DataContext.get_current().enable_progress_bars = False  # the caller's bar, via callbacks
    if ray.is_initialized():
        yield ray
        return
    # Ray's own knobs for its output: no dashboard, the workers' stdout/stderr kept in the session's
    # log files (log_to_driver), its Python loggers at WARNING. What these do not reach (the raylet's
    # "(raylet) ..." messages, the C++ core's warnings on fd 2) the front end sends to a log file
    # (brushwork.cli.ray_output).
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
             "configure_logging": True}
    local = config.resolved_engine == "local"
    try:
        if local:  # address="local": a private instance, even if `ray start` left a cluster running here
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **quiet)
        else:
            ray.init(address=config.address or "auto", **quiet)
    except ConnectionError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {config.address or 'auto'} "
                           f"({str(exc).splitlines()[0]}); with token authentication set RAY_AUTH_MODE=token "
                           "and the cluster's RAY_AUTH_TOKEN") from None
    except (RuntimeError, ValueError, OSError) as exc:
        where = "on this machine" if local else f"at {config.address or 'auto'}"
        raise ClusterError(f"cannot start Ray {where} ({str(exc).splitlines()[0]})") from None
    try:
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its start/finish chatter
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray) -> tuple[int, int]:
    """(all CPUs of the cluster, the CPUs of its largest node) as Ray counts them."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    per_node = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes] or [0]
    return int(ray.cluster_resources().get("CPU", 0)), max(per_node)


def plan_actors(ray, config: BatchConfig, whole_node: bool, items: int) -> tuple[int, int]:
    """(actors, CPUs per actor): by default one CPU per actor for fast networks and a whole node's
    CPUs for Gatys (one optimisation per node uses all its cores); never more actors than items.

    On this machine a request beyond its CPUs is refused (Ray would wait forever); on a cluster it is
    not: Ray Data waits for nodes that are still joining or that an autoscaler adds."""
    total, largest = cluster_cpus(ray)
    local = config.resolved_engine == "local"
    cpus = config.cpus_per_worker or (max(1, largest) if whole_node else 1)
    if local and cpus > largest:
        raise ConfigError(f"cpus-per-worker {cpus}: this machine has {largest} CPU(s)")
    workers = config.workers or max(1, total // cpus)
    if local and workers * cpus > total:
        raise ConfigError(f"{workers} workers x {cpus} CPU(s) need {workers * cpus} CPUs; this machine has "
                          f"{total} (lower --workers or --cpus-per-worker)")
    return max(1, min(workers, items)), cpus
