#!/usr/bin/env python3
"""A reference-style ring dumper, for `deno task bench` only.

It does what Chromium OS Chameleon's MemoryDumper does, written afresh: every
period it reads the page counter, works out the new pages, and for each
(at most two) physical ranges runs one `pixeldump -a ADDR - PAGE_SIZE COUNT 1`
subprocess, appending its stdout to the output file. The counter is read with
one `devmem ADDR 32` subprocess, as on a board without the FPGA helper module.
Like the reference it drops the tail on stop (no final drain); unlike it, the
counter is unwrapped, so it can run against counters that wrap.

usage: reference_dumper.py --out FILE --base ADDR --page-size N --pages N
         --counter ADDR --counter-wrap N --period SECONDS --duration SECONDS
         [--pixeldump PATH] [--devmem PATH]
prints one JSON line: bytes, pages, periods, elapsed, cpu (user+sys of itself
and its children), errors.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--page-size", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--pages", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--counter", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--counter-wrap", type=lambda s: int(s, 0), default=0x10000)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--pixeldump", default="pixeldump")
    ap.add_argument("--devmem", default="devmem")
    a = ap.parse_args()

    def read_counter():
        out = subprocess.run([a.devmem, hex(a.counter), "32"], check=True,
                             capture_output=True).stdout
        return int(out.strip(), 16)

    def dump(index, count):
        address = a.base + index * a.page_size
        cmd = [a.pixeldump, "-a", hex(address), "-", str(a.page_size), str(count), "1"]
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode:
            raise RuntimeError(p.stderr.decode(errors="replace"))
        with open(a.out, "ab") as f:
            f.write(p.stdout)
        return len(p.stdout)

    open(a.out, "wb").close()
    t0 = time.monotonic()
    last = read_counter()
    last_last = None
    total = periods = errors = 0
    next_t = t0 + a.period
    while True:
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_t += a.period
        if time.monotonic() - t0 >= a.duration:
            break  # the reference stops without draining the tail
        periods += 1
        phys = read_counter()
        delta = phys - (last % a.counter_wrap)
        if delta < 0:
            delta += a.counter_wrap
        current = last + delta
        if delta == 0:
            continue
        if delta > a.pages or (last_last is not None and current - last_last > a.pages):
            errors += 1
            break
        start = last % a.pages
        end = current % a.pages
        if end <= start:  # (the reference uses <, which mishandles a full lap)
            total += dump(start, a.pages - start)
            if end:
                total += dump(0, end)
        else:
            total += dump(start, delta)
        last_last, last = last, current
    elapsed = time.monotonic() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"bytes": total, "pages": total // a.page_size, "periods": periods,
                      "elapsed": elapsed, "cpu": cpu, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
