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
half up; p50/p99 are nearest-rank (ceil(p*n/100)).

Usage: trace_stats_bt2.py TRACE_DIR [BACKEND]  -> JSON on stdout
"""
import json
import math
import sys

import bt2


def main(argv):
    path = argv[1]
    only = argv[2] if len(argv) > 2 else None
    stacks = {}
    durations = {}
    unmatched_ends = 0
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
        stack = stacks.setdefault(key, [])
        if name == "backend_call_begin":
            stack.append(t)
        elif stack:
            durations.setdefault(key, []).append(t - stack.pop())
        else:
            unmatched_ends += 1
    calls = []
    for key in sorted(durations):
        d = durations[key]
        n = len(d)
        total = sum(d)
        mean_f = total / n
        acc = 0.0
        for x in d:
            dx = x - mean_f
            acc += dx * dx
        s = sorted(d)

        def rank(p):
            return s[max(0, (p * n + 99) // 100 - 1)]

        backend, function = key.split(":", 1)
        calls.append({
            "key": key,
            "backend": backend,
            "function": function,
            "count": n,
            "min_ns": s[0],
            "max_ns": s[-1],
            "mean_ns": (2 * total + n) // (2 * n),
            "stddev_ns": math.floor(math.sqrt(acc / n) + 0.5),
            "p50_ns": rank(50),
            "p99_ns": rank(99),
        })
    json.dump({
        "calls": calls,
        "unmatched_ends": unmatched_ends,
        "unmatched_begins": sum(len(v) for v in stacks.values()),
    }, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(sys.argv)
