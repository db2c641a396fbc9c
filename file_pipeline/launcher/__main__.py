"""`python -m file_pipeline.launcher <origin> <instance ref>`: a run forkserver (see `forkserver`).

Started as a package's `__main__`, so that multiprocessing in a run worker (the decoding pool)
does not import this module again in each of its processes: it skips mains named `*.__main__`.
"""

import sys

from file_pipeline.launcher.forkserver import main

sys.exit(main(sys.argv[1], sys.argv[2]))
