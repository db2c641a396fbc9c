"""The local instance's run launcher: run workers forked from a warm process of the code location
(`forkserver`), with the code server as the fallback (`launcher.ForkingRunLauncher`)."""

from file_pipeline.launcher.launcher import ForkingRunLauncher

__all__ = ["ForkingRunLauncher"]
