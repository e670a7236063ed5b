/**
 * Cost of a tracepoint: disabled (the `if (tracing.enabled)` guard, one
 * branch) and enabled (stores into the preallocated buffer, flushed to a
 * writer that discards). Each bench iteration makes 10,000 calls, so divide
 * the time per iteration by 10,000 for ns per tracepoint.
 *
 *   deno bench -A bench/trace_bench.ts
 */
import {
  backendTrace,
  CtfTraceWriter,
  dumperTrace,
  JsonTraceWriter,
  startTracing,
  TraceChunk,
  type TraceEvent,
  type TraceSession,
  type TraceWriter,
  tracing,
} from "../lib/trace/mod.ts";

const N = 10_000;
const discard: TraceWriter = { format: "discard", path: "", write() {}, close() {} };
let sink = 0;

Deno.bench("baseline: empty loop (x10,000)", { group: "off", baseline: true }, () => {
  for (let i = 0; i < N; i++) sink += i;
});

Deno.bench("disabled: guarded dumper_period_end, 10 fields (x10,000)", { group: "off" }, () => {
  for (let i = 0; i < N; i++) {
    sink += i;
    if (tracing.enabled) dumperTrace.periodEnd(i, i, 1, 1, 4096, 1, 2, 0, 500, 16);
  }
});

Deno.bench("disabled: unguarded backend_call_begin (x10,000)", { group: "off" }, () => {
  for (let i = 0; i < N; i++) {
    sink += i;
    backendTrace.callBegin("sim", "read");
  }
});

let session: TraceSession | undefined;
function on(): void {
  session ??= startTracing(discard);
}

Deno.bench("enabled: backend_call_begin, 2 strings (x10,000)", { group: "on" }, () => {
  on();
  for (let i = 0; i < N; i++) {
    sink += i;
    if (tracing.enabled) backendTrace.callBegin("sim", "read");
  }
});

Deno.bench("enabled: dumper_period_end, 10 integers (x10,000)", { group: "on" }, () => {
  on();
  for (let i = 0; i < N; i++) {
    sink += i;
    if (tracing.enabled) dumperTrace.periodEnd(i, i, 1, 1, 4096, 1, 2, 0, 500, 16);
  }
});

// The writers' share, per flush of 10,000 events (half backend calls, half period ends).
const events: TraceEvent[] = [];
for (let i = 0; i < N / 2; i++) {
  events.push({
    name: "backend_call_begin",
    timestamp: 1e9 + 2 * i,
    fields: { backend_name: "sim", function_name: "read" },
  });
  events.push({
    name: "dumper_period_end",
    timestamp: 1e9 + 2 * i + 1,
    fields: {
      period: i,
      counter: i,
      new_pages: 1,
      pages: 1,
      bytes: 4096,
      reads: 1,
      counter_reads: 2,
      lost_pages: 0,
      headroom_ppm: 500,
      ring_pages: 16,
    },
  });
}
const chunk = TraceChunk.fromEvents(events);
const dir = await Deno.makeTempDir({ prefix: "ringdump-trace-bench-" });
const ctf = await CtfTraceWriter.open(`${dir}/ctf`);
const json = await JsonTraceWriter.open(`${dir}/t.json`);

Deno.bench("CTF writer: one flush of 10,000 events", { group: "writers" }, () => {
  ctf.write(chunk);
});

Deno.bench("JSON writer: one flush of 10,000 events", { group: "writers" }, () => {
  json.write(chunk);
});

globalThis.addEventListener("unload", () => {
  session?.stop();
  ctf.close();
  json.close();
  Deno.removeSync(dir, { recursive: true });
  if (sink < 0) console.log(sink);
});
