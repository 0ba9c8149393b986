"""lipdub: lip-sync dubbing of video catalogs on Ray Data."""

__version__ = "0.1.0"
