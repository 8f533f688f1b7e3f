"""The one exception type that the command line turns into a clear line and exit code 2."""


class GanforgeError(Exception):
    """A user-facing error: bad input, missing data, a checkpoint that does not fit.

    The message is one line that says what is wrong and, where possible, what to do.
    """
