"""What a catalog run will take, before it runs: output minutes, wall time, node-hours per node type.

The work comes from per-stage rates in core-seconds per frame, as `lipdub bench` measures them
(its ``stage_cpu_seconds`` over its ``frames``): analysis and listening once per distinct source
(the analysis cache shares them between a source's dubs), the rest per output frame. Each stage
goes to the node types that can run it: a stage asking for a GPU (the config's ``num_gpus``) to
node types with GPUs, the others to CPU node types (the head too when it may run work). Within a
node type the work spreads over every core of up to ``max_workers`` nodes at the utilisation the
bench measured; wall time is the slowest node type plus start-up. Node-hours count each node
type's busy core-time over its cores, plus the idle tail before the autoscaler lets nodes go.

A GPU stage's rate on a GPU is only known from a bench run on one (``--rates``); without it the
estimate uses the CPU rate and says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lipdub.config import PipelineConfig

__all__ = ["ClusterShape", "NodeType", "StageRates", "estimate_run", "rates_from_bench"]

#: Stages whose work is per distinct source video (cached analysis), not per dub.
PER_SOURCE_STAGES = ("analyze", "listen")
PER_OUTPUT_STAGES = ("probe", "move", "render", "assemble", "qa")
#: Seconds of work below which another node of a type is not worth starting.
MIN_NODE_WORK_S = 60.0

# `lipdub bench --seconds 60` on the 2-core development VM, 2026-12-07 (1280x720, 25 fps, 1500
# frames; stage_cpu_seconds / frames): the defaults when no bench JSON is given.
_BENCH_2026_12_07 = {"frames": 1500, "stage_cpu_seconds": {"probe": 0.06, "analyze": 35.8, "listen": 11.6, "move": 3.3,
                                                           "render": 89.0, "assemble": 1.5, "qa": 0.8},
                     "pipeline_busy_share": 0.92, "size": "1280x720"}


@dataclass(frozen=True)
class StageRates:
    """Core-seconds per frame of each stage, and the share of the cores the pipeline keeps busy."""

    per_frame: dict[str, float]
    utilisation: float = 0.9
    source: str = "built-in (lipdub bench, 2-core VM, 2026-12-07, 1280x720)"
    gpu_per_frame: dict[str, float] = field(default_factory=dict)  # measured on a GPU node, when known


def rates_from_bench(report: dict[str, Any], source: str, gpu: bool = False) -> StageRates:
    """Rates from a `lipdub bench` JSON report (``gpu``: it was measured on a GPU machine)."""
    frames = float(report["frames"])
    per_frame = {stage: float(seconds) / frames for stage, seconds in report["stage_cpu_seconds"].items()}
    utilisation = float(report.get("pipeline_busy_share") or 0.9)
    if gpu:
        return StageRates(per_frame=per_frame, utilisation=utilisation, source=source, gpu_per_frame=per_frame)
    return StageRates(per_frame=per_frame, utilisation=utilisation, source=source)


def default_rates() -> StageRates:
    return rates_from_bench(_BENCH_2026_12_07, StageRates.__dataclass_fields__["source"].default)


@dataclass(frozen=True)
class NodeType:
    name: str
    cpus: float
    gpus: float
    max_workers: int
    min_workers: int = 0


@dataclass(frozen=True)
class ClusterShape:
    node_types: list[NodeType]
    idle_timeout_minutes: float = 5.0
    # Seconds from a run's start to its first frame of work: Ray, actors and models (bench:
    # ~15 s), plus launching cloud nodes where the pool starts empty (an assumption: 3 minutes).
    startup_s: float = 15.0
    node_launch_s: float = 180.0

    @classmethod
    def from_ray_cluster_yaml(cls, config: dict[str, Any]) -> "ClusterShape":
        """From a `ray up` cluster YAML (its ``available_node_types`` and idle timeout)."""
        types = []
        head = config.get("head_node_type")
        for name, spec in (config.get("available_node_types") or {}).items():
            resources = spec.get("resources") or {}
            count = 1 if name == head else int(spec.get("max_workers", 0))
            types.append(NodeType(name, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)), count,
                                  1 if name == head else int(spec.get("min_workers", 0))))
        return cls(types, float(config.get("idle_timeout_minutes", 5.0)))

    @classmethod
    def local(cls, cpus: float) -> "ClusterShape":
        return cls([NodeType("local", cpus, 0.0, 1, 1)], idle_timeout_minutes=0.0, node_launch_s=0.0)


def _stage_node_types(stage: str, config: PipelineConfig, cluster: ClusterShape) -> tuple[list[NodeType], bool]:
    """The node types that run `stage`, and whether it runs on GPUs there."""
    wants_gpu = config.resources[stage].num_gpus > 0 if stage in config.resources else False
    if wants_gpu:
        types = [t for t in cluster.node_types if t.gpus > 0 and t.max_workers > 0]
        if not types:
            raise ValueError(f"the config asks a GPU for {stage}, but no node type of the cluster has one")
        return types, True
    cpu_only = [t for t in cluster.node_types if t.gpus == 0 and t.cpus > 0 and t.max_workers > 0]
    return cpu_only or [t for t in cluster.node_types if t.cpus > 0 and t.max_workers > 0], False


def estimate_run(items: list[dict[str, Any]], config: PipelineConfig, cluster: ClusterShape, rates: StageRates) -> dict[str, Any]:
    """The plan of a run over ``items`` (each: ``video_uri``, ``output_frames``, ``source_frames``,
    ``output_seconds``): output minutes, work per stage, wall time and node-hours per node type."""
    sources: dict[str, int] = {}
    for item in items:
        sources[item["video_uri"]] = int(item["source_frames"])
    output_frames = sum(int(item["output_frames"]) for item in items)
    frames = {stage: float(sum(sources.values())) for stage in PER_SOURCE_STAGES}
    frames.update({stage: float(output_frames) for stage in PER_OUTPUT_STAGES})
    work: dict[str, float] = {}  # node type -> core-seconds
    stages: dict[str, Any] = {}
    notes: list[str] = []
    for stage, count in frames.items():
        types, on_gpu = _stage_node_types(stage, config, cluster)
        rate = rates.gpu_per_frame.get(stage) if on_gpu else None
        if on_gpu and rate is None:
            rate = rates.per_frame.get(stage, 0.0)
            notes.append(f"{stage} asks for a GPU but no GPU rate was measured: estimated at its CPU rate")
        core_s = count * (rate if rate is not None else rates.per_frame.get(stage, 0.0))
        capacity = sum(t.cpus * t.max_workers for t in types)
        for node_type in types:  # spread over the node types that can run it, by their capacity
            work[node_type.name] = work.get(node_type.name, 0.0) + core_s * node_type.cpus * node_type.max_workers / capacity
        stages[stage] = {"frames": int(count), "core_seconds": core_s, "node_types": [t.name for t in types], "gpu": on_gpu}
    node_types: dict[str, Any] = {}
    slowest = 0.0
    for node_type in cluster.node_types:
        core_s = work.get(node_type.name, 0.0)
        if core_s <= 0:
            node_types[node_type.name] = {"core_seconds": 0.0, "busy_s": 0.0, "nodes": 0, "node_hours": 0.0}
            continue
        per_node = node_type.cpus * rates.utilisation
        # The autoscaler adds nodes while work waits; a node is worth starting for at least a
        # minute of work (and a run has only so many items and segments to spread).
        nodes = max(1, min(node_type.max_workers, math.ceil(core_s / per_node / MIN_NODE_WORK_S)))
        busy_s = core_s / (per_node * nodes)
        launch = 0.0 if node_type.min_workers > 0 else cluster.node_launch_s
        slowest = max(slowest, busy_s + launch)
        idle_tail_h = 0.0 if node_type.min_workers > 0 else nodes * cluster.idle_timeout_minutes / 60
        node_types[node_type.name] = {
            "core_seconds": core_s, "busy_s": busy_s, "nodes": nodes, "launch_s": launch,
            "node_hours": core_s / per_node / 3600 + idle_tail_h,
        }
    seconds_out = sum(float(item["output_seconds"]) for item in items)
    return {
        "items": len(items),
        "distinct_sources": len(sources),
        "output_minutes": seconds_out / 60,
        "output_frames": output_frames,
        "wall_seconds": cluster.startup_s + slowest,
        "realtime_factor": seconds_out / (cluster.startup_s + slowest) if slowest else None,
        "stages": stages,
        "node_types": node_types,
        "rates": rates.source,
        "utilisation": rates.utilisation,
        "notes": sorted(set(notes)),
    }
