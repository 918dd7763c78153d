"""Benchmark every bounded buffer against the standard library's queues.

The same as ``pcmodel bench`` (see ``benchmarks/README.md``); kept here so the benchmark can be run
from a checkout without installing the console script::

    python benchmarks/buffers_bench.py --quick
    python benchmarks/buffers_bench.py --repeat 7 --json results/bench.json
"""

import sys

from pcmodel.experiments.bench import main

if __name__ == "__main__":
    sys.exit(main())
