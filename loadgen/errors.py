"""The load generator's one error type: a one-line message, a non-zero exit, no traceback."""


class LoadgenError(Exception):
    pass
