"""Errors that carry a message meant for the person running the job."""


class InputError(ValueError):
    """Bad input (unreadable file, missing stream, no face, silent dub...).

    The message is one line that names the problem and, where possible, what to do about it.
    """
