"""The one exception type the CLI turns into a clear line and exit status 2."""


class SlimnasError(Exception):
    """Bad user input: unknown names, impossible widths, malformed config, missing files."""
