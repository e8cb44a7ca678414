"""Errors of the native cluster: each says what is missing or failed and what to do about it."""


class ClusterError(Exception):
    """A service could not be set up, started, reached or stopped."""
