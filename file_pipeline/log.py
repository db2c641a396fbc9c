"""The logger type plain modules accept: Dagster's `context.log` in a run, a standard logger
elsewhere (the CLI, benchmarks, tests)."""

from __future__ import annotations

import logging

Logger = logging.Logger | logging.LoggerAdapter
