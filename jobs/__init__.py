"""Entry points: the `lipdub` command (typer) and `python -m jobs.*` modules."""
# First, before any module here can import ray: keeps a local Ray on loopback (lipdub/loopback.py).
import lipdub  # noqa: F401
