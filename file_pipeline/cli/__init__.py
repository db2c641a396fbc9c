"""`file-pipeline`: the local stack, uploads, files, the demo, statistics and the operator tools
from the terminal.

One module per command group: `stack` (stack, db), `files` (upload, files, search), `stats`,
`operate` (status, reprocess), `dlq` (dead letters), `verify`, `demo` (demo, ui, env-vars);
`runtime` is the glue to Dagster, `output` how results are printed.
"""

import click

from file_pipeline.cli.demo import demo, env_vars, ui
from file_pipeline.cli.dlq import dlq
from file_pipeline.cli.files import files, search, upload
from file_pipeline.cli.operate import reprocess, status
from file_pipeline.cli.stack import db, stack
from file_pipeline.cli.stats import stats
from file_pipeline.cli.verify import verify


@click.group()
def main() -> None:
    """Event-driven file pipeline on Dagster: MinIO/S3, PostgreSQL, Kafka, ClamAV."""


for command in (
    stack,
    db,
    upload,
    files,
    search,
    stats,
    status,
    reprocess,
    dlq,
    verify,
    demo,
    ui,
    env_vars,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
