"""Keep an embedded local Ray on 127.0.0.1.

Why: on Linux Ray binds its GCS, raylet and every worker to the machine's external address
unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is in the environment, and Ray reads that variable
once, when ``ray`` is first imported. A dubbing tool on a laptop must not open its cluster ports
to the network, so every lipdub package applies the default when it is imported (the package
``__init__`` runs before any of its modules can import ``ray``), and `ray_adapter.ensure_ray`
applies it once more to a ``ray`` that an embedding program imported first.

Joining a cluster is unchanged: with ``RAY_ADDRESS`` set (``ray job submit`` sets it) nothing is
applied at import, and `for_cluster` restores Ray's own choice before a driver joins one by
``--address``. A value the user set themselves is never overridden.
"""
from __future__ import annotations

import os
import sys

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Set in the environment when lipdub (not the user) chose loopback, so joining can undo it.
_APPLIED_MARKER = "LIPDUB_RAY_LOOPBACK_DEFAULT"


def apply_loopback_default() -> None:
    """Set the loopback variable unless the user chose a value or a cluster address is given."""
    if LOOPBACK_ENV in os.environ or os.environ.get("RAY_ADDRESS"):
        return
    os.environ[LOOPBACK_ENV] = "0"
    os.environ[_APPLIED_MARKER] = "1"
    _sync_imported_ray(loopback=True)


def for_local_ray() -> None:
    """Before starting an embedded Ray: loopback, whatever was imported first."""
    apply_loopback_default()
    if os.environ.get(LOOPBACK_ENV) == "0":
        _sync_imported_ray(loopback=True)


def for_cluster() -> None:
    """Before joining a cluster: undo the loopback default lipdub applied (the driver must
    register under the address the cluster can reach), keep a value the user set."""
    if os.environ.pop(_APPLIED_MARKER, None):
        os.environ.pop(LOOPBACK_ENV, None)
        _sync_imported_ray(loopback=False)


def _sync_imported_ray(loopback: bool) -> None:
    """Ray keeps the variable as a module constant read at call time; bring an already imported
    copy in line (Ray's processes started later read the environment themselves)."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is None:
        return
    if loopback:
        constants.ENABLE_RAY_CLUSTER = False
    else:
        constants.ENABLE_RAY_CLUSTER = not constants.IS_WINDOWS_OR_OSX
