"""The local instance's run launcher: run workers forked from a warm process of the code location
(`forkserver`), with the code server as the fallback (`launcher.ForkingRunLauncher`), and the run
coordinator that warms that process up when `dagster-daemon` starts (`WarmingRunCoordinator`)."""

from file_pipeline.launcher.launcher import ForkingRunLauncher, WarmingRunCoordinator

__all__ = ["ForkingRunLauncher", "WarmingRunCoordinator"]
