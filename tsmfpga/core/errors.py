"""Errors the CLI reports as a clear one-line message with a non-zero exit (no traceback)."""


class UserFacingError(Exception):
    """Base of every error caused by user input (config, data, model file, options).

    Messages name the file, node, field or key at fault and say what to do.
    """
