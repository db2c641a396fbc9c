"""The code location's executor: every job runs its steps in the run's own process.

Dagster's default, the multiprocess executor, starts a new interpreter per step, which imports
Dagster and loads the code location again: about 3 CPU seconds a step on this project's 2-core
machine. The scheduled `check_data_health` job (nine checks) cost about 27 CPU seconds that way
every 15 minutes, and each `file_statistics` refresh after a processing run paid it too, taking
that CPU from the processing runs beside them. None of these jobs gains from running its steps
side by side: processing decodes on its own worker processes (`processing/workers.py`), and
the other steps are a few queries each.
"""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
