"""Errors that carry a message meant for the person running the job."""


class InputError(ValueError):
    """Bad input (unreadable file, missing stream, no face, silent dub...).

    The message is one line that names the problem and, where possible, what to do about it.
    """


class MissingInputError(InputError, FileNotFoundError):
    """An input that is not there. One wording, whoever finds it first (the catalog plan's
    fingerprint, the probe, a download): ``<uri>: file does not exist``. Also a FileNotFoundError,
    so storage code that handles missing files handles this one too."""

    def __init__(self, uri: str) -> None:
        self.message = f"{uri}: file does not exist"
        super().__init__(self.message)
        self.filename = uri

    def __str__(self) -> str:  # OSError's own would print "[Errno None] None: '<uri>'"
        return self.message


class ItemCancelled(InputError):
    """The item's request was cancelled while it was in the pipeline (lipdub/cancel_marker.py)."""
