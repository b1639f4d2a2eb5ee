"""Errors an analyst reads: each names the source, where the problem is (URL or file) and what is wrong."""

from __future__ import annotations


class SourceError(Exception):
    """A problem with one source's data or download, phrased for the analyst who has to act on it."""

    def __init__(self, source: str, location: str, problem: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        super().__init__(f"[{source}] {location}: {problem}")


class FetchError(SourceError):
    """A download failed (after retries, where retrying made sense). `final`: trying again later would meet the same
    failure (a certificate that cannot be verified, a proxy that wants a password), so the step is not retried
    either."""

    def __init__(self, source: str, url: str, problem: str, status: int | None = None, *, final: bool = False) -> None:
        self.status = status
        self.final = final
        where = f"{url} (HTTP {status})" if status is not None else url
        super().__init__(source, where, problem)


class ParseError(ValueError):
    """Raised by the pure parsers; the asset adds the source name and turns it into a SourceError."""

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


class SettingError(ValueError):
    """A setting (an environment variable, resources/settings.py) whose value cannot be used; the message names the
    variable, its value and what it must be."""
