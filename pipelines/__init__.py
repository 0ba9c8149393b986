"""Ray Data pipelines: the dub plan, the training pipeline, and the adapter from operators to Ray."""
# First, before any module here can import ray: keeps a local Ray on loopback (lipdub/loopback.py).
import lipdub  # noqa: F401
