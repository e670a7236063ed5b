#!/usr/bin/env python3
"""Statistics of libcamera IPA calls in an LTTng trace, computed with
babeltrace2's Python bindings (python3-bt2), independently of ringdump's CTF
reader: the pairing of libcamera's utils/tracepoints/analyze-ipa-trace.py.

Events named libcamera:ipa_call_begin / libcamera:ipa_call_end that have a
pipeline_name field are matched with a stack per pipeline_name:function_name
key, on default_clock_snapshot.ns_from_origin. Unlike the script, an end with
no open begin is counted instead of raising.

The figures follow `ringdump trace stats` definitions exactly: mean is
sum/count rounded half up; stddev is the sample standard deviation
sqrt(sum((d - sum/count)^2) / (count - 1)) (0 for one pair), rounded half up;
p50/p99 are nearest-rank (ceil(p*n/100)). The pairing and the figures are
bt2_pairs.py's.

Usage: lttng_stats_bt2.py TRACE_PATH [-p PIPELINE] [--events-per-second]
  -> JSON on stdout
"""
import argparse
import json
import os
import sys
import time

import bt2

# the shared pairing, next to this script whatever the working directory;
# no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from bt2_pairs import Pairs  # noqa: E402


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--pipeline")
    parser.add_argument("trace_path")
    args = parser.parse_args(argv[1:])
    pairs = Pairs()
    events = 0
    cpus = set()
    start = time.perf_counter()
    for msg in bt2.TraceCollectionMessageIterator(args.trace_path):
        if type(msg) is not bt2._EventMessageConst:
            continue
        events += 1
        ctx = msg.event.packet.context_field
        if ctx is not None and "cpu_id" in ctx:
            cpus.add(int(ctx["cpu_id"]))
        payload = msg.event.payload_field
        if "pipeline_name" not in payload:
            continue
        pipeline = str(payload["pipeline_name"])
        if args.pipeline is not None and pipeline != args.pipeline:
            continue
        name = msg.event.name
        if name not in ("libcamera:ipa_call_begin", "libcamera:ipa_call_end"):
            continue
        key = pipeline + ":" + str(payload["function_name"])
        t = msg.default_clock_snapshot.ns_from_origin
        if name == "libcamera:ipa_call_begin":
            pairs.begin(key, t)
        else:
            pairs.end(key, t)
    seconds = time.perf_counter() - start
    json.dump({
        "events": events,
        "cpus": sorted(cpus),
        "seconds": seconds,
        "calls": pairs.calls("pipeline", ddof=1),
        "unmatched_ends": pairs.unmatched_ends,
        "unmatched_begins": pairs.unmatched_begins(),
    }, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(sys.argv)
