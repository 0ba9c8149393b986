"""The one place that turns an operator's declared resources into Ray Data arguments."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import ray
from ray.data import ActorPoolStrategy, Dataset

from lipdub import loopback
from lipdub.config import PipelineConfig, StageResources
from operators.base import Operator

log = logging.getLogger(__name__)


def map_batches_arguments(resources: StageResources) -> dict[str, Any]:
    """``map_batches`` keyword arguments for a stage's declared resources."""
    kwargs: dict[str, Any] = {
        "batch_size": 1,  # one catalog item (or render segment) per call: items are heavy
        "batch_format": "pyarrow",
        "num_cpus": resources.num_cpus,
    }
    if resources.num_gpus:
        kwargs["num_gpus"] = resources.num_gpus
    if resources.custom_resources:
        kwargs["resources"] = dict(resources.custom_resources)
    if resources.memory_mb:
        kwargs["memory"] = resources.memory_mb * 1024 * 1024
    if resources.pool_size:
        kwargs["compute"] = ActorPoolStrategy(
            min_size=resources.pool_size, max_size=resources.max_pool_size or resources.pool_size
        )
    return kwargs


class _OperatorActor:
    """Actor-pool wrapper: builds the operator once per actor so ``setup()`` runs once."""

    def __init__(self, operator_cls: type[Operator], config: PipelineConfig) -> None:
        self.operator = operator_cls(config)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.operator(batch)


# One operator per class and worker process for task stages and side tasks (pipelines/overlap.py):
# a task worker is reused for many tasks, so what setup() or first use loads (listen's speech
# models, for the listen task run alongside each fresh analysis of a catalog) is loaded once per
# process, as on an actor.
_PROCESS_OPERATORS: dict[type[Operator], Operator] = {}


def process_operator(operator_cls: type[Operator], config: PipelineConfig) -> Operator:
    """This process's ``operator_cls`` for ``config`` (made anew when the config differs)."""
    operator = _PROCESS_OPERATORS.get(operator_cls)
    if operator is None or operator.config != config:
        operator = _PROCESS_OPERATORS[operator_cls] = operator_cls(config)
    return operator


def _task_function(operator_cls: type[Operator], config: PipelineConfig):
    def run(batch: pa.Table) -> pa.Table:
        return process_operator(operator_cls, config)(batch)

    run.__name__ = f"{operator_cls.name}_task"
    return run


def apply_operator(ds: Dataset, operator_cls: type[Operator], config: PipelineConfig) -> Dataset:
    """Append one operator to the dataset with the resources the config declares for it."""
    resources = config.resources[operator_cls.name]
    kwargs = map_batches_arguments(resources)
    if resources.pool_size:
        # A named subclass so Ray's plan, dashboard and logs say which stage an actor serves.
        actor_cls = type(f"{operator_cls.__name__.removesuffix('Operator')}Actor", (_OperatorActor,), {})
        return ds.map_batches(actor_cls, fn_constructor_kwargs={"operator_cls": operator_cls, "config": config}, **kwargs)
    return ds.map_batches(_task_function(operator_cls, config), **kwargs)


# Settings workers need that a cluster's raylets may not have been started with: our knobs and
# storage endpoints, forwarded through the runtime_env. Never credentials: the runtime_env shows
# in the dashboard and job records; on a cluster the nodes' own roles or environment supply them.
FORWARDED_ENV_NAMES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION")
SECRET_MARKERS = ("SECRET", "TOKEN", "PASSWORD", "KEY")


def forwarded_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if (name.startswith("LIPDUB_") and not any(marker in name for marker in SECRET_MARKERS)) or name in FORWARDED_ENV_NAMES
    }
    # OpenBLAS worker threads keep spinning after any small numpy linear algebra and halve
    # OpenCV's speed in the render stage; our BLAS work is tiny, so one thread everywhere.
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start (or join) Ray: a local embedded Ray by default, kept on loopback.

    ``address`` (or ``RAY_ADDRESS``, set by ``ray job submit``) joins an existing cluster.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    init_kwargs: dict[str, Any] = {"log_to_driver": False}
    if address:
        loopback.for_cluster()
        init_kwargs["address"] = address
        init_kwargs["runtime_env"] = {"env_vars": forwarded_env()}
    else:
        # Bind every Ray port to 127.0.0.1, even if `ray` was imported before lipdub.
        loopback.for_local_ray()
        # A local Ray's raylet and workers inherit this process's environment, so the settings
        # go there instead of into a runtime_env, which costs every run about 2 s on 2 cores
        # (Ray's runtime-env agent has to set up the job before the first worker starts).
        os.environ.update(forwarded_env())
        # "local": always a fresh embedded Ray, never a cluster that `ray start` left on this machine.
        init_kwargs["address"] = "local"
        init_kwargs["include_dashboard"] = False
        init_kwargs["_node_ip_address"] = "127.0.0.1"
        # Extra logical CPUs keep actor pools and read tasks schedulable on 2-core laptops;
        # the stages' fractional requests still bound real parallelism.
        init_kwargs["num_cpus"] = num_cpus or max(4, os.cpu_count() or 1)
    quiet = not log.isEnabledFor(logging.DEBUG)  # `--verbose` shows Ray's own start-up lines
    if quiet:
        init_kwargs["logging_level"] = logging.WARNING
        _filter_ray_console()  # Ray's token lines come during ray.init
    _init_with_retry(init_kwargs, local=not address)
    from ray.data import DataContext

    context = DataContext.get_current()
    # Bars on a terminal; in logs (cron, CI) Ray would print a full status table every few seconds.
    context.enable_progress_bars = sys.stderr.isatty()
    context.enable_operator_progress_bars = sys.stderr.isatty()
    if quiet:
        _quiet_ray_console(context)
    log.info("Ray ready: %s", ray.cluster_resources())


# Ray's console lines that say nothing a lipdub user can act on: token set-up on a loopback-only
# local Ray, the progress bars we turn off on purpose outside a terminal.
_RAY_NOISE = ("Token authentication is enabled", "Generated new authentication token", "Progress bars disabled")


class _KnownRayNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in _RAY_NOISE)


def _filter_ray_console() -> None:
    for name in ("ray", "ray.data"):
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(max(handler.level, logging.WARNING))
                if not any(isinstance(existing, _KnownRayNoise) for existing in handler.filters):
                    handler.addFilter(_KnownRayNoise())


def _quiet_ray_console(context: Any) -> None:
    """Without ``--verbose``: Ray Data's per-execution INFO lines and its issue detector's advice
    stay in Ray's own log files (``/tmp/ray/session_*/logs``), not on the console."""
    _filter_ray_console()
    context.issue_detectors_config.detectors = []


# Ray waits a fixed 30 s for a new node's raylet to register; on a machine already busy with
# other work (a shared CI host, a laptop mid-build) that can pass, and the whole run would fail.
_START_ATTEMPTS = 3


def _init_with_retry(init_kwargs: dict[str, Any], local: bool) -> None:
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            ray.init(**init_kwargs)
            return
        except Exception as error:  # noqa: BLE001 - Ray raises a bare Exception for this
            if not local or "timed out during startup" not in str(error) or attempt == _START_ATTEMPTS:
                raise
            log.warning("Ray's local node did not start in time (machine busy?): starting it again (%d/%d)", attempt + 1, _START_ATTEMPTS)
            ray.shutdown()
            _stop_orphaned_ray_children()


def _stop_orphaned_ray_children() -> None:
    """The failed start's GCS and raylet (our own child processes, by PID) would live on."""
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and name in ("gcs_server", "raylet"):
            with contextlib.suppress(OSError):
                os.kill(int(child.name), signal.SIGKILL)


def gpu_bundles(config: PipelineConfig) -> list[dict[str, float]]:
    """One resource bundle per GPU a stage can use at once (its pool size, or one task)."""
    bundles = []
    for resources in config.resources.values():
        if resources.num_gpus > 0:
            count = max(1, resources.max_pool_size or resources.pool_size or 1)
            bundles.extend({"CPU": float(resources.num_cpus), "GPU": float(resources.num_gpus)} for _ in range(count))
    return bundles


@contextlib.contextmanager
def gpu_pool_requested(config: PipelineConfig, check_every_s: float = 5.0) -> Iterator[None]:
    """Keep the GPU nodes the config's stages need coming while the pipeline runs.

    Why: Ray Data submits a task only when the cluster has room for it, so on a GPU pool that
    starts at zero nodes (ray_cluster.yaml's) a stage asking for a GPU would wait for ever, with
    no pending task to make the autoscaler add a node (seen with Ray's fake multi-node
    autoscaler). A direct ``request_resources`` does not last: Ray Data's own autoscaling
    coordinator overwrites it every tick. So tiny tasks, one per GPU bundle, are submitted:
    pending, they are demand the autoscaler answers with GPU nodes; once placed they return at
    once, leaving the nodes to the stage. While the pipeline runs, a watcher submits them again
    whenever no GPU node is up (one that idled out before the GPU stage's first task, e.g.).
    Nothing is held afterwards, so idle nodes go after the idle timeout. Without an autoscaler and
    without GPUs the tasks stay pending and are cancelled at the end.
    """
    bundles = gpu_bundles(config)
    if not bundles or not ray.is_initialized():
        yield
        return
    log.info("waking %d GPU node slot(s) for the stages that use a GPU", len(bundles))
    pending: list[ray.ObjectRef] = []
    stop = threading.Event()

    def wake() -> None:
        pending[:] = [ref for ref in pending if not ray.wait([ref], timeout=0)[0]]
        if not pending and not _gpu_nodes_up():
            pending.extend(_wake_gpu_node.options(num_cpus=0, num_gpus=bundle["GPU"]).remote() for bundle in bundles)

    def watch() -> None:
        while not stop.wait(check_every_s):
            try:
                wake()
            except Exception as error:  # noqa: BLE001 - the watcher must never take the run down
                log.debug("GPU pool watcher: %s", error)

    wake()
    watcher = threading.Thread(target=watch, name="lipdub-gpu-pool", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        for ref in pending:
            ray.cancel(ref, force=False)  # no-op when it already ran


def _gpu_nodes_up() -> bool:
    return any(node["Alive"] and node["Resources"].get("GPU", 0) > 0 for node in ray.nodes())


@ray.remote(num_cpus=0, max_retries=0)
def _wake_gpu_node() -> str:
    """Runs on a GPU node as soon as one exists (see `gpu_pool_requested`)."""
    return ray.get_runtime_context().get_node_id()
