"""Keep Ray Serve's replica-to-replica gRPC server on loopback when Ray itself is.

Why: Ray Serve 2.60 replicas start an inter-deployment gRPC server bound to ``[::]:0`` (every
interface) with no setting to change it (ray/serve/_private/replica.py), so even a Ray kept on
127.0.0.1 (`lipdub.loopback`) opened one port per API replica to the network. Our application
has one deployment and reaches it through Serve's proxy, so nothing outside this machine ever
needs that port when Ray is local. On a cluster (Ray not on loopback) nothing is changed.

Applied by `LipdubApi.__init__`: Serve runs the deployment's constructor in the replica before
it starts that server, and the replica may never import our modules by name (Serve pickles the
deployment class by value), so an import-time patch would not reach it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)

_ANY_INTERFACE = "[::]:"


def keep_replica_grpc_on_loopback() -> bool:
    """Patch Serve's replica module to bind 127.0.0.1 instead of every interface; whether it did."""
    from ray._private import ray_constants
    from ray.serve._private import replica

    if ray_constants.ENABLE_RAY_CLUSTER:
        return False  # Ray binds the network: a multi-node cluster may route to this replica
    bind: Callable[..., Any] = replica.add_port_to_grpc_server
    if getattr(bind, "lipdub_loopback", False):
        return True

    def bind_on_loopback(server: Any, address: str) -> Any:
        if address.startswith(_ANY_INTERFACE):
            address = "127.0.0.1:" + address[len(_ANY_INTERFACE):]
        return bind(server, address)

    bind_on_loopback.lipdub_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = bind_on_loopback
    return True

