"""Motion models: rules, the learned model, its checkpoints and training code."""
# First, before any module here can import ray: keeps a local Ray on loopback (lipdub/loopback.py).
import lipdub  # noqa: F401
