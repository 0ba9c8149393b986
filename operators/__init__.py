"""Pipeline stages (Ray Data operators): probe, analyze, listen, move, segment, render, gather, assemble, qa."""
# First, before any module here can import ray: keeps a local Ray on loopback (lipdub/loopback.py).
import lipdub  # noqa: F401
