"""Error types that map to the CLI's exit codes.

`KwsInputError` is anything the user can fix (a bad file, key, value or usage): the CLI
prints its one-line message and exits with 2. Anything else is an internal failure (exit 1).
"""

from __future__ import annotations


class KwsInputError(ValueError):
    """Bad input from the user: a file, key or value that is not what was expected."""


class AudioError(KwsInputError):
    """An audio file that cannot be used (missing, undecodable, empty, non-finite)."""


class ConfigError(KwsInputError):
    """A configuration key or value that is unknown, of the wrong type or out of range."""


class BundleError(KwsInputError):
    """A device bundle that is malformed, tampered with or of an unsupported version."""
