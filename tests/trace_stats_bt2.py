#!/usr/bin/env python3
"""Per-call statistics of a ringdump CTF trace, computed with babeltrace2's
Python bindings (python3-bt2), independently of ringdump's own CTF reader.

Like libcamera's utils/tracepoints/analyze-ipa-trace.py: backend_call_begin /
backend_call_end pairs are matched with a stack per backend_name:function_name
key; durations are clock-snapshot differences in ns (the trace clock runs at
1 GHz).

The figures follow `ringdump trace stats` definitions exactly: mean is
sum/count rounded half up; stddev is the population standard deviation
sqrt(sum((d - sum/count)^2) / count), accumulated in end-event order, rounded
half up; p50/p99 are nearest-rank (ceil(p*n/100)). The pairing and the
figures are bt2_pairs.py's.

Usage: trace_stats_bt2.py TRACE_DIR [BACKEND]  -> JSON on stdout
"""
import json
import os
import sys

import bt2

# the shared pairing, next to this script whatever the working directory;
# no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from bt2_pairs import Pairs  # noqa: E402


def main(argv):
    path = argv[1]
    only = argv[2] if len(argv) > 2 else None
    pairs = Pairs()
    freq = None
    for msg in bt2.TraceCollectionMessageIterator(path):
        if type(msg) is not bt2._EventMessageConst:
            continue
        name = msg.event.name
        if name not in ("backend_call_begin", "backend_call_end"):
            continue
        payload = msg.event.payload_field
        backend = str(payload["backend_name"])
        if only is not None and backend != only:
            continue
        key = backend + ":" + str(payload["function_name"])
        snapshot = msg.default_clock_snapshot
        if freq is None:
            freq = snapshot.clock_class.frequency
            if freq != 1_000_000_000:
                raise SystemExit(f"clock frequency is {freq}, expected 1 GHz")
        t = snapshot.value
        if name == "backend_call_begin":
            pairs.begin(key, t)
        else:
            pairs.end(key, t)
    json.dump({
        "calls": pairs.calls("backend", ddof=0),
        "unmatched_ends": pairs.unmatched_ends,
        "unmatched_begins": pairs.unmatched_begins(),
    }, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(sys.argv)
