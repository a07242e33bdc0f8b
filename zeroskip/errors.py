"""The one exception type for user errors (bad input, bad configuration, bad files)."""


class ZeroskipError(Exception):
    """A problem with what the user gave us. The CLI prints it as one line and exits 2.

    The message names the input (file, field, argument) and what is wrong with it.
    """
