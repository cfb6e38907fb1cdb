"""Errors a user can cause: the CLI prints them as one line, the API answers them with a 4xx."""


class StudentOpsError(Exception):
    """Base for every error caused by input, configuration or state the user controls."""

    exit_code = 2


class ProfileError(StudentOpsError):
    """A dataset profile is missing, malformed or inconsistent."""


class DataError(StudentOpsError):
    """A data file cannot be used at all (missing, unreadable, empty, wrong shape)."""


class ConfigError(StudentOpsError):
    """Settings are invalid."""


class ModelError(StudentOpsError):
    """No usable model (none trained, none registered, alias missing)."""
