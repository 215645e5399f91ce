"""The user mistakes the project recognises, one exception type for each kind.

The CLI turns every ``UserError`` into a one-line message and exit code 2, so a message must say
what was wrong and how to fix it.
"""


class UserError(Exception):
    """Base for mistakes the user can fix; never raised for bugs."""

    exit_code = 2


class ConfigError(UserError):
    """The configuration (``params.yaml`` or a ``--set`` override) is invalid."""


class DataError(UserError):
    """The input data is missing, unreadable or unusable for the configured task."""


class PipelineError(DataError):
    """A pipeline stage's input is missing or disagrees with what an earlier stage wrote."""


class RunNotFoundError(UserError):
    """A run id or experiment name given on the command line does not exist in the store."""


class StoreError(UserError):
    """The tracking store cannot be opened or prepared."""


class IncompleteError(Exception):
    """Work finished only in part (e.g. one model of a comparison failed); exit code 1."""

    exit_code = 1


class ReportError(UserError):
    """A report was asked for fewer than two runs, or for one run twice."""
