"""``python -m wb_dagster.demo [DIR]``: the demo (see :mod:`wb_dagster.demo.run`).

Example:
    >>> # python -m wb_dagster.demo ./wb_demo_output
"""

import sys

from wb_dagster.demo.run import main

if __name__ == "__main__":
    sys.exit(main())
