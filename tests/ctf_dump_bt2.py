#!/usr/bin/env python3
"""Every event of a CTF trace as babeltrace2's Python bindings (python3-bt2)
decode it, as JSON: [{"name", "cycles", "fields"}], cycles being the default
clock snapshot's value and fields the payload (structures as objects, arrays
as lists, variants as their selected option, enumerations as integers).
Used by tests/ctf_test.ts to check that the traces it builds are CTF as
babeltrace2 reads it, independently of ringdump's reader.

Usage: ctf_dump_bt2.py TRACE_DIR
"""
import json
import sys

import bt2


def value(f):
    if isinstance(f, bt2._StructureFieldConst):
        return {k: value(v) for k, v in f.items()}
    if isinstance(f, bt2._VariantFieldConst):
        return value(f.selected_option)
    if isinstance(f, bt2._ArrayFieldConst):
        return [value(v) for v in f]
    if isinstance(f, bt2._StringFieldConst):
        return str(f)
    if isinstance(f, bt2._RealFieldConst):
        return float(f)
    if isinstance(f, bt2._IntegerFieldConst):
        return int(f)
    raise SystemExit(f"unexpected field type {type(f)}")


def main(argv):
    out = []
    for msg in bt2.TraceCollectionMessageIterator(argv[1]):
        if type(msg) is not bt2._EventMessageConst:
            continue
        out.append({
            "name": msg.event.name,
            "cycles": msg.default_clock_snapshot.value,
            "fields": value(msg.event.payload_field),
        })
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv)
