"""`runtime.dagster_daemon`, the daemon the demo and the benchmarks run: a real `dagster-daemon`
pointed at a gRPC code server started beside it, so the daemon manages no code server of its own
(one it manages is replaced every 60 seconds), and nothing of either outlives the block."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from file_pipeline.cli import runtime
from file_pipeline.sandbox import isolated_environment
from file_pipeline_tests.services import wait_for

pytestmark = pytest.mark.stack


def _group_commands(group: int) -> dict[int, str]:
    """The processes of process group `group`: pid and command line."""
    commands = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ProcessLookupError):
            continue
    return {pid: command.decode() for pid, command in commands.items()}


def test_the_daemon_ticks_from_a_code_server_it_does_not_manage(tmp_path) -> None:
    log = tmp_path / "daemon.log"
    with isolated_environment("daemon"), runtime.dagster_daemon(log) as daemon:
        instance = dg.DagsterInstance.get()
        group = os.getpgid(daemon.pid)
        workspace = yaml.safe_load(log.with_name("daemon-workspace.yaml").read_text())
        (entry,) = workspace["load_from"]
        assert (
            entry["grpc_server"]["location_name"] == runtime.workspace_location()["location_name"]
        )

        def sensor_ticked() -> bool:
            states = instance.all_instigator_state()
            return any(
                tick.status.value in ("SKIPPED", "SUCCESS")  # a tick that finished
                for state in states
                if state.name == "file_events_sensor"
                for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
            )

        wait_for(sensor_ticked, 90, "a file_events_sensor tick", interval=1.0)
        time.sleep(2)
        commands = _group_commands(group)
        servers = {pid: command for pid, command in commands.items() if " api grpc" in command}
        # Only the server started beside the daemon: one the daemon spawned has --heartbeat.
        assert len(servers) == 1, servers
        (command,) = servers.values()
        assert f"--port {entry['grpc_server']['port']}" in command
        assert "--heartbeat" not in command
        assert daemon.poll() is None, log.read_text()[-3000:]
    assert daemon.poll() is not None
    assert _group_commands(group) == {}, "the daemon's process group outlived the block"
