"""Media I/O with PyAV only: probe, decode upright RGB frames, encode H.264, audio, remux."""
