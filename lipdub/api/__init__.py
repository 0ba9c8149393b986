"""The HTTP API: submit, track and receive dubs (Ray Serve + FastAPI)."""
