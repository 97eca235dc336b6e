"""Errors that name the place and the problem."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration or CIB that cannot be accepted.

    where: the file and element/path (e.g. 'cib.xml: <rsc_colocation id="c1">').
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
