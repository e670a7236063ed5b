/**
 * A capture in a process of its own, for the memory figures of the bench:
 * `deno run -A bench/capture_child.ts IMAGE RING_BYTES LAPS [TRACE_FILE]`
 * captures LAPS full rings of the lap image IMAGE (made by the parent)
 * through devmem into a discarding sink, optionally traced into TRACE_FILE,
 * and prints one JSON line: bytes, seconds, and peak and current RSS from
 * /proc/self/status.
 *
 * @module
 */
import { openDevmem } from "../backends/devmem.ts";
import { DiscardSink } from "../lib/sink/mod.ts";
import { openTraceWriter, startTracing } from "../lib/trace/mod.ts";
import { LAP_PAGE_SIZE, lapCapture } from "./lap.ts";
import { ringGeometry } from "../lib/ring.ts";
import { selfRss } from "./util.ts";

if (import.meta.main) {
  const [image, ringBytes, laps, trace] = Deno.args;
  const pages = Number(ringBytes) / LAP_PAGE_SIZE;
  const geometry = ringGeometry({
    base: 0n,
    pageSize: LAP_PAGE_SIZE,
    pages,
    counterWrap: Math.max(0x10000, 2 ** Math.ceil(Math.log2(pages + 1))),
  });
  const ring = { path: image, geometry, remove: () => Promise.resolve() };
  const session = trace ? startTracing(await openTraceWriter(trace)) : undefined;
  const backend = await openDevmem(image, { geometry });
  try {
    const t = await lapCapture({ backend, sink: new DiscardSink(), ring, laps: Number(laps) });
    session?.stop();
    const rss = selfRss();
    console.log(JSON.stringify({ bytes: t.bytes, seconds: t.seconds, ...rss }));
  } finally {
    await backend.close();
  }
}
