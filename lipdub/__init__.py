"""lipdub: lip-sync dubbing of video catalogs on Ray Data.

This package is the library layer (media, face, audio, render, qa, report, storage, config).
Importing it keeps an embedded local Ray on loopback (`lipdub.loopback`).
"""
from lipdub.loopback import apply_loopback_default

apply_loopback_default()

__version__ = "0.1.0"
