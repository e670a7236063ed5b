import assert from "node:assert/strict";
import fc from "fast-check";
import {
  BACKEND_TRACEPOINTS,
  backendTrace,
  checkChromeTrace,
  ctfMetadata,
  CtfTraceWriter,
  currentTraceSession,
  DUMPER_TRACEPOINTS,
  dumperTrace,
  formatTraceStats,
  JsonTraceWriter,
  MemoryTraceWriter,
  parseChromeTrace,
  parseCtf,
  readTrace,
  SINK_TRACEPOINTS,
  sinkTrace,
  startTracing,
  traceBackend,
  TraceChunk,
  type TraceEvent,
  TraceFormatError,
  traceFormatFor,
  TRACEPOINTS,
  traceReport,
  traceSink,
  traceStats,
  type TraceWriter,
  tracing,
} from "../lib/trace/mod.ts";
import { RingdumpError, UsageError } from "../lib/errors.ts";
import { Dumper } from "../lib/dumper.ts";
import { ringGeometry } from "../lib/ring.ts";
import { MemorySink, type Sink } from "../lib/sink/mod.ts";
import { VirtualClock } from "../lib/clock.ts";
import { openSim } from "../backends/sim.ts";
import type { Backend } from "../backends/types.ts";
import { ringdump } from "../testing/run_cli.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-trace-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

/** A clock in ns that advances by `step` on every read. */
function stepClock(step = 1000, start = 1_000_000): () => number {
  let t = start - step;
  return () => (t += step);
}

/** Runs a deterministic traced capture (virtual clock) into `writers`. */
async function tracedCapture(
  writers: TraceWriter[],
  options: { bufferBytes?: number; periods?: number } = {},
): Promise<{ periods: number; bytes: number }> {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
  const clock = new VirtualClock();
  const session = startTracing(writers, {
    bufferBytes: options.bufferBytes,
    now: () => Math.round(clock.now() * 1e6),
  });
  try {
    const backend = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock, latency: 0.25 });
    const stats = await new Dumper(backend, new MemorySink(), {
      geometry,
      period: 10,
      fixedPeriod: true, // the period counts below are of the fixed beat
      duration: 10 * (options.periods ?? 30),
      clock,
    }).run();
    await traceBackend(backend).close();
    return { periods: stats.periods, bytes: stats.bytes };
  } finally {
    session.stop();
  }
}

Deno.test("tracepoints: {category}_{event} names from one table per category, unique ids", () => {
  const tables = [DUMPER_TRACEPOINTS, BACKEND_TRACEPOINTS, SINK_TRACEPOINTS];
  const expected = tables.flatMap((t) =>
    Object.entries(t.events).map(([event, fields]) => ({
      name: `${t.category}_${event}`,
      fields: Object.entries(fields).map(([name, type]) => ({ name, type })),
    }))
  );
  assert.deepEqual(TRACEPOINTS.map((t) => ({ name: t.name, fields: [...t.fields] })), expected);
  assert.deepEqual(TRACEPOINTS.map((t) => t.id), TRACEPOINTS.map((_, i) => i));
  for (const t of TRACEPOINTS) assert.match(t.name, /^(dumper|backend|sink)_[a-z_]+$/);
  // every begin has an end of the same span
  for (const t of TRACEPOINTS.filter((t) => t.phase === "begin")) {
    const end = TRACEPOINTS.find((e) => e.phase === "end" && e.span === t.span);
    assert.ok(end, `${t.name} has no end`);
  }
  const b = TRACEPOINTS.find((t) => t.name === "backend_call_begin")!;
  const e = TRACEPOINTS.find((t) => t.name === "backend_call_end")!;
  for (const tp of [b, e]) {
    assert.deepEqual(tp.fields, [
      { name: "backend_name", type: "string" },
      { name: "function_name", type: "string" },
    ]);
  }
});

Deno.test("tracepoints: the CTF metadata declares every tracepoint with its fields", () => {
  const tsdl = ctfMetadata({ uuid: crypto.randomUUID() });
  assert.ok(tsdl.startsWith("/* CTF 1.8 */"));
  for (const t of TRACEPOINTS) {
    const block = new RegExp(
      `event \\{\\n\\tname = "${t.name}";\\n\\tid = ${t.id};[\\s\\S]*?\\n\\};`,
    )
      .exec(tsdl)?.[0];
    assert.ok(block, `no event block for ${t.name}`);
    for (const f of t.fields) {
      const type = f.type === "string" ? "string" : f.type === "u64" ? "uint64_t" : "int64_t";
      assert.ok(block.includes(`\t\t${type} ${f.name};`), `${t.name}.${f.name} missing`);
    }
  }
});

Deno.test("emitters write each tracepoint's fields in order; nothing when tracing is off", () => {
  const memory = new MemoryTraceWriter();
  // off: nothing is recorded, even when the emitter is called unguarded
  assert.equal(tracing.enabled, false);
  dumperTrace.periodBegin(99);
  const session = startTracing(memory, { now: stepClock() });
  dumperTrace.captureBegin(1, 2, 3, 4, 5);
  dumperTrace.captureEnd(6, 7, 8, 9);
  dumperTrace.periodBegin(10);
  dumperTrace.periodEnd(11, 12, 13, 14, 15, 16, 17, 18, 19, 20);
  backendTrace.callBegin("b1", "f1");
  backendTrace.callEnd("b2", "f2");
  sinkTrace.writeBegin("s1", 21);
  sinkTrace.writeEnd("s2", 22);
  sinkTrace.flushBegin("s3");
  sinkTrace.flushEnd("s4");
  session.stop();
  dumperTrace.periodBegin(100);
  assert.equal(tracing.enabled, false);
  assert.equal(memory.events.length, TRACEPOINTS.length);
  // the integers were passed as 1, 2, 3, ... in TRACEPOINTS order
  let n = 0;
  for (const tp of TRACEPOINTS) {
    const ev = memory.events.find((e) => e.name === tp.name);
    assert.ok(ev, `${tp.name} not emitted`);
    assert.deepEqual(Object.keys(ev.fields), tp.fields.map((f) => f.name), tp.name);
    for (const f of tp.fields) {
      if (f.type !== "string") assert.equal(ev.fields[f.name], ++n, `${tp.name}.${f.name}`);
    }
  }
  assert.equal(n, 22);
  assert.deepEqual(memory.events.filter((e) => e.name.startsWith("backend")).map((e) => e.fields), [
    { backend_name: "b1", function_name: "f1" },
    { backend_name: "b2", function_name: "f2" },
  ]);
  assert.deepEqual(
    memory.events.filter((e) => e.name.startsWith("sink")).map((e) => e.fields.sink_name),
    ["s1", "s2", "s3", "s4"],
  );
  assert.ok(memory.closed);
});

Deno.test("the buffer is bounded: flushed as it fills, every event kept, in order", () => {
  const memory = new MemoryTraceWriter();
  const bufferBytes = 1024; // 128 slots: 12 slots per period_end, 4 per backend call
  const session = startTracing(memory, { bufferBytes, now: stepClock(7) });
  const sizes: number[] = [];
  const origWrite = memory.write.bind(memory);
  memory.write = (chunk) => {
    sizes.push(chunk.count);
    origWrite(chunk);
  };
  const N = 5000;
  for (let i = 0; i < N; i++) {
    backendTrace.callBegin("sim", i % 2 ? "read" : "readRegister");
    dumperTrace.periodEnd(i, i, 1, 1, 4096, 1, 2, 0, 500, 16);
    backendTrace.callEnd("sim", i % 2 ? "read" : "readRegister");
  }
  session.stop();
  assert.equal(memory.events.length, 3 * N);
  assert.equal(session.events, 3 * N);
  // each chunk fits the buffer: at most 128 slots of 4 or 12 each
  assert.ok(sizes.length > 100, `${sizes.length} flushes`);
  assert.equal(session.flushes, sizes.length);
  for (const n of sizes) assert.ok(n <= 128 / 4, `chunk of ${n} events`);
  for (let i = 0; i < N; i++) {
    assert.equal(memory.events[3 * i + 1].fields.period, i);
    assert.equal(memory.events[3 * i].fields.function_name, i % 2 ? "read" : "readRegister");
  }
  for (let i = 1; i < memory.events.length; i++) {
    assert.equal(memory.events[i].timestamp - memory.events[i - 1].timestamp, 7);
  }
});

Deno.test("string fields: every name right across flushes and sessions, however many a call site passes", () => {
  const names = ["a", "bb", "ccc", "a", "a", "ccc", "dddd", "bb"];
  for (let round = 0; round < 2; round++) {
    const memory = new MemoryTraceWriter();
    const session = startTracing(memory, { bufferBytes: 256, now: stepClock(1) });
    const N = 700;
    for (let i = 0; i < N; i++) {
      const f = names[(i * (round + 1)) % names.length] + (i % 3 === 0 ? String(round) : "");
      backendTrace.callBegin(i % 5 ? "sim" : "ssh", f);
      sinkTrace.writeEnd(f, i);
    }
    session.stop();
    assert.equal(memory.events.length, 2 * N);
    for (let i = 0; i < N; i++) {
      const f = names[(i * (round + 1)) % names.length] + (i % 3 === 0 ? String(round) : "");
      assert.deepEqual(memory.events[2 * i].fields, {
        backend_name: i % 5 ? "sim" : "ssh",
        function_name: f,
      });
      assert.deepEqual(memory.events[2 * i + 1].fields, { sink_name: f, bytes: i });
    }
  }
});

Deno.test("timestamps never go backwards, even if the clock does", () => {
  const memory = new MemoryTraceWriter();
  const times = [500, 400, 600, 100, 700];
  let i = 0;
  const session = startTracing(memory, { now: () => times[i++] });
  for (let k = 0; k < times.length; k++) sinkTrace.flushBegin("x");
  session.stop();
  assert.deepEqual(memory.events.map((e) => e.timestamp), [500, 500, 600, 600, 700]);
});

Deno.test("one session at a time; a failing writer stops tracing, not the capture", async () => {
  const session = startTracing(new MemoryTraceWriter());
  assert.throws(() => startTracing(new MemoryTraceWriter()), UsageError);
  assert.equal(currentTraceSession(), session);
  session.stop();
  assert.equal(currentTraceSession(), undefined);

  let closed = false;
  const broken: TraceWriter = {
    format: "broken",
    path: "/full/disk.json",
    write() {
      throw new Error("No space left on device");
    },
    close() {
      closed = true;
    },
  };
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
  const run = () => {
    const clock = new VirtualClock();
    const backend = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock });
    const sink = new MemorySink();
    return new Dumper(backend, sink, { geometry, period: 10, duration: 300, clock }).run()
      .then((stats) => ({ stats, data: sink.bytes() }));
  };
  const plain = await run();
  const s = startTracing(broken, { bufferBytes: 256 });
  let traced;
  try {
    traced = await run();
  } finally {
    assert.equal(tracing.enabled, false, "tracing stopped after the write failure");
    assert.throws(() => s.stop(), (e: unknown) => {
      assert.ok(e instanceof RingdumpError);
      assert.match(e.message, /\/full\/disk\.json.*No space left on device.*incomplete/);
      return true;
    });
  }
  assert.ok(plain.stats.bytes > 0);
  assert.deepEqual(traced.data, plain.data);
  assert.ok(closed);
});

Deno.test("traceBackend frames every call, also failing ones; wrapping is idempotent", async () => {
  const calls: string[] = [];
  const inner: Backend = {
    name: "fake",
    readRegister: () => {
      calls.push("reg");
      return Promise.resolve(7n);
    },
    read: () => {
      calls.push("read");
      return Promise.reject(new Error("boom"));
    },
    close: () => {
      calls.push("close");
      return Promise.resolve();
    },
  };
  const memory = new MemoryTraceWriter();
  const session = startTracing(memory, { now: stepClock() });
  const b = traceBackend(inner);
  assert.equal(traceBackend(b), b);
  assert.equal(b.name, "fake");
  assert.equal(await b.readRegister(0n, 32), 7n);
  await assert.rejects(() => b.read(0n, new Uint8Array(1)), /boom/);
  await b.close();
  const sink = traceSink(new MemorySink());
  assert.equal(traceSink(sink), sink);
  await sink.write(new Uint8Array(3));
  await sink.flush();
  assert.equal(sink.bytesWritten, 3);
  session.stop();
  assert.deepEqual(calls, ["reg", "read", "close"]);
  assert.deepEqual(
    memory.events.map((e) => `${e.name} ${Object.values(e.fields).join(",")}`),
    [
      "backend_call_begin fake,readRegister",
      "backend_call_end fake,readRegister",
      "backend_call_begin fake,read",
      "backend_call_end fake,read",
      "backend_call_begin fake,close",
      "backend_call_end fake,close",
      "sink_write_begin memory,3",
      "sink_write_end memory,3",
      "sink_flush_begin memory",
      "sink_flush_end memory",
    ],
  );
});

Deno.test("a traced capture: periods framed, counts add up, backend and sink calls inside", async () => {
  const memory = new MemoryTraceWriter();
  const { periods, bytes } = await tracedCapture([memory]);
  const ev = memory.events;
  const ends = ev.filter((e) => e.name === "dumper_period_end");
  assert.equal(ends.length, periods);
  assert.equal(ev.filter((e) => e.name === "dumper_period_begin").length, periods);
  assert.deepEqual(ends.map((e) => e.fields.period), ends.map((_, i) => i + 1));
  assert.equal(ends.reduce((a, e) => a + Number(e.fields.bytes), 0), bytes);
  const capEnd = ev.find((e) => e.name === "dumper_capture_end")!;
  assert.equal(capEnd.fields.bytes, bytes);
  assert.equal(capEnd.fields.periods, periods);
  const reads = ev.filter((e) =>
    e.name === "backend_call_begin" && e.fields.function_name === "read"
  );
  assert.equal(ends.reduce((a, e) => a + Number(e.fields.reads), 0), reads.length);
  const writes = ev.filter((e) => e.name === "sink_write_end");
  assert.equal(writes.reduce((a, e) => a + Number(e.fields.bytes), 0), bytes);
  for (const e of ends) {
    assert.equal(e.fields.ring_pages, 16);
    const h = Number(e.fields.headroom_ppm);
    assert.ok(h > 0 && h < 1e6, `headroom ${h}`);
  }
  // the counter's pages per period match the geometry: 1 MiB/s = 2.56 pages per 10 ms
  const totalNew = ends.reduce((a, e) => a + Number(e.fields.new_pages), 0);
  assert.ok(Math.abs(totalNew - 256 * 0.3) <= 3, `${totalNew} new pages`);
  // a flush at the end, outside the periods
  assert.equal(ev.filter((e) => e.name === "sink_flush_begin").length, 1);
});

Deno.test("a traced capture frames every call once, in order, whether the backend and sink came traced or not (the dumper frames its one-at-a-time calls itself)", async () => {
  const run = async (wrap: boolean) => {
    const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
    const clock = new VirtualClock();
    const memory = new MemoryTraceWriter();
    const session = startTracing(memory, { now: () => Math.round(clock.now() * 1e6) });
    // What the backend and the sink really saw, in order.
    const calls: string[] = [];
    const sim = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock, latency: 0.25 });
    const logged: Backend = {
      name: sim.name,
      readRegister: (a, w) => (calls.push("readRegister"), sim.readRegister(a, w)),
      read: (a, d) => (calls.push("read"), sim.read(a, d)),
      close: () => sim.close(),
    };
    const memorySink = new MemorySink();
    const sink: Sink = {
      name: memorySink.name,
      get bytesWritten() {
        return memorySink.bytesWritten;
      },
      write: (c) => (calls.push(`write ${c.length}`), memorySink.write(c)),
      flush: () => memorySink.flush(),
      close: () => memorySink.close(),
    };
    try {
      const stats = await new Dumper(
        wrap ? traceBackend(logged) : logged,
        wrap ? traceSink(sink) : sink,
        { geometry, period: 10, duration: 300, clock, warmUp: false, rampBytes: 4096 },
      ).run();
      assert.ok(stats.reads > 10 && stats.counterReads > 10, JSON.stringify(stats));
    } finally {
      session.stop();
    }
    const framed = memory.events.filter((e) =>
      !e.name.startsWith("dumper_") && !e.name.includes("flush")
    );
    // Each begin is closed by its own end before the next call begins.
    const spans: string[] = [];
    for (let i = 0; i < framed.length; i += 2) {
      const [b, e] = [framed[i], framed[i + 1]];
      assert.match(b.name, /_begin$/);
      assert.equal(e?.name, b.name.replace(/_begin$/, "_end"));
      assert.deepEqual(e.fields, b.fields);
      spans.push(
        b.name.startsWith("sink") ? `write ${b.fields.bytes}` : String(b.fields.function_name),
      );
      if (b.name.startsWith("backend")) assert.equal(b.fields.backend_name, "sim");
    }
    assert.deepEqual(spans, calls);
    return spans;
  };
  const plain = await run(false);
  assert.deepEqual(await run(true), plain);
  assert.ok(
    plain.includes("read") && plain.includes("readRegister") &&
      plain.some((c) => c.startsWith("write")),
  );
});

Deno.test("JSON trace follows the Chrome Trace Event rules and reads back exactly", async () => {
  const memory = new MemoryTraceWriter();
  const path = `${tmp}/rules.json`;
  await tracedCapture([memory, await JsonTraceWriter.open(path)], { bufferBytes: 2048 });
  const doc = JSON.parse(await Deno.readTextFile(path));
  assert.deepEqual(checkChromeTrace(doc), []);
  const phases = new Set(doc.traceEvents.map((e: { ph: string }) => e.ph));
  assert.deepEqual([...phases].sort(), ["B", "E", "M", "i"].filter((p) => phases.has(p)).sort());
  assert.ok(phases.has("B") && phases.has("E") && phases.has("M"));
  assert.equal(doc.displayTimeUnit, "ns");
  const back = await readTrace(path);
  assert.equal(back.format, "json");
  assert.deepEqual(back.events, memory.events);
});

Deno.test("checkChromeTrace finds what breaks the rules", () => {
  const ev = (ph: string, ts: number, name = "a", tid = 1) => ({ name, ph, ts, pid: 1, tid });
  assert.deepEqual(checkChromeTrace({ traceEvents: [ev("B", 1), ev("E", 2)] }), []);
  // interleaved threads are fine
  assert.deepEqual(
    checkChromeTrace([
      ev("B", 1, "a", 1),
      ev("B", 2, "b", 2),
      ev("E", 3, "a", 1),
      ev("E", 4, "b", 2),
    ]),
    [],
  );
  const msgs = (doc: unknown) => checkChromeTrace(doc).map((p) => p.message);
  assert.match(msgs([ev("B", 1)])[0], /never ended/);
  assert.match(msgs([ev("E", 1)])[0], /without an open 'B'/);
  assert.match(msgs([ev("B", 5), ev("E", 4)])[0], /goes back/);
  assert.match(msgs([ev("Q", 1)])[0], /unknown phase/);
  assert.match(
    msgs([ev("B", 1, "a"), ev("B", 2, "b"), ev("E", 3, "a"), ev("E", 4, "b")])[0],
    /not nested/,
  );
  assert.match(msgs({ traceEvents: [{ ...ev("i", 1), s: "x" }] })[0], /scope/);
  assert.match(msgs({})[0], /no traceEvents/);
});

Deno.test("CTF trace: same events and timestamps as the JSON, several packets", async () => {
  const memory = new MemoryTraceWriter();
  const dir = `${tmp}/same.ctf`;
  const json = `${tmp}/same.json`;
  await tracedCapture([memory, await CtfTraceWriter.open(dir), await JsonTraceWriter.open(json)], {
    bufferBytes: 1024,
  });
  const ctf = await readTrace(dir);
  assert.equal(ctf.format, "ctf");
  assert.deepEqual(ctf.events, memory.events);
  assert.deepEqual((await readTrace(json)).events, ctf.events);
  // the metadata file also names the trace
  assert.deepEqual((await readTrace(`${dir}/metadata`)).events, ctf.events);
  // one packet per flush, each starting with the CTF magic
  const stream = await Deno.readFile(`${dir}/stream_0`);
  const v = new DataView(stream.buffer);
  let packets = 0;
  for (let off = 0; off < stream.length; packets++) {
    assert.equal(v.getUint32(off, true), 0xc1fc1fc1);
    off += Number(v.getBigUint64(off + 24 + 24, true)) / 8;
  }
  assert.ok(packets > 5, `${packets} packets`);
});

Deno.test("CTF: i64 fields and non-ASCII strings round trip through the stream", () => {
  const tps = [{
    id: 0,
    name: "test_event",
    category: "test",
    event: "event",
    phase: "instant" as const,
    span: "test_event",
    fields: [{ name: "n", type: "i64" as const }, { name: "s", type: "string" as const }],
  }];
  const uuid = crypto.randomUUID();
  const meta = ctfMetadata({ uuid, tracepoints: tps });
  // Build a stream by hand with the layout ctfMetadata declares.
  const text = new TextEncoder().encode("héllo µs");
  const size = 24 + 48 + 10 + 8 + text.length + 1;
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  v.setUint32(0, 0xc1fc1fc1, true);
  buf.set(uuid.replace(/-/g, "").match(/../g)!.map((h) => parseInt(h, 16)), 4);
  v.setBigUint64(24 + 16, BigInt(size * 8), true);
  v.setBigUint64(24 + 24, BigInt(size * 8), true);
  v.setUint16(72, 0, true);
  v.setBigUint64(74, 123456789n, true);
  v.setBigInt64(82, -42n, true);
  buf.set(text, 90);
  assert.deepEqual(parseCtf(meta, buf), [{
    name: "test_event",
    timestamp: 123456789,
    fields: { n: -42, s: "héllo µs" },
  }]);
});

Deno.test("readers reject truncated and unknown input with a TraceFormatError", async () => {
  const dir = `${tmp}/trunc.ctf`;
  const json = `${tmp}/trunc.json`;
  await tracedCapture([await CtfTraceWriter.open(dir), await JsonTraceWriter.open(json)], {
    bufferBytes: 1024,
  });
  const stream = await Deno.readFile(`${dir}/stream_0`);
  const meta = await Deno.readTextFile(`${dir}/metadata`);
  for (const cut of [stream.length - 1, stream.length - 300, 30, 100]) {
    assert.throws(
      () => parseCtf(meta, stream.subarray(0, cut), { path: "x" }),
      (e: unknown) => e instanceof TraceFormatError && /truncated|cut/.test(e.message),
      `cut at ${cut}`,
    );
  }
  assert.throws(() => parseCtf(meta.slice(0, meta.length / 2), stream), TraceFormatError);
  const text = await Deno.readTextFile(json);
  for (const cut of [text.length - 3, Math.floor(text.length / 2), 10]) {
    assert.throws(
      () => parseChromeTrace(text.slice(0, cut)),
      (e: unknown) => e instanceof TraceFormatError && /truncated/.test(e.message),
    );
  }
  assert.throws(() => parseChromeTrace('[{"ph":"B"},]'), /not valid JSON/);
  assert.throws(() => parseChromeTrace('{"foo": 1}'), /not a Chrome Trace Event file/);
  assert.throws(() => parseChromeTrace('[{"ph":"B","name":"x"}]'), /no numeric 'ts'/);
  const junk = `${tmp}/junk.bin`;
  await Deno.writeFile(junk, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
  await assert.rejects(() => readTrace(junk), (e: unknown) => {
    assert.ok(e instanceof TraceFormatError);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /unknown trace format/);
    return true;
  });
  await assert.rejects(() => readTrace(`${tmp}/nope`), /no such trace/);
  await assert.rejects(() => readTrace(json, { format: "xml" }), /unknown trace format 'xml'/);
  await assert.rejects(() => readTrace(tmp), /no 'metadata' file/);
  assert.throws(() => traceFormatFor("x", "xml"), UsageError);
  assert.equal(traceFormatFor("T.JSON"), "json");
  assert.equal(traceFormatFor("t.json", "ctf"), "ctf");
});

/** Reference statistics, written independently of traceStats: exact rationals via BigInt. */
function reference(durations: number[]) {
  const n = durations.length;
  const s = [...durations].sort((a, b) => a - b);
  const sum = durations.reduce((a, b) => a + b, 0);
  const rank = (p: number) => s[Math.max(1, Math.ceil((p * n) / 100)) - 1];
  const mean = Math.round(sum / n); // half up for positive numbers
  return { count: n, min: s[0], max: s[n - 1], mean, p50: rank(50), p99: rank(99), total: sum };
}

Deno.test("stats: nested and interleaved pairs match with a stack per key", () => {
  const ev = (name: string, t: number, b: string, f: string): TraceEvent => ({
    name: `backend_call_${name}`,
    timestamp: t,
    fields: { backend_name: b, function_name: f },
  });
  const events = [
    ev("end", 5, "sim", "read"), // an end without a begin
    ev("begin", 10, "sim", "read"),
    ev("begin", 12, "sim", "readRegister"), // interleaved with read
    ev("begin", 20, "sim", "read"), // nested read
    ev("end", 26, "sim", "read"), // closes the nested one: 6
    ev("end", 30, "sim", "readRegister"), // 18
    ev("end", 50, "sim", "read"), // closes the outer one: 40
    ev("begin", 60, "dev", "read"),
    ev("end", 61, "dev", "read"),
    ev("begin", 70, "dev", "close"), // never ends
    { name: "dumper_period_end", timestamp: 80, fields: { period: 1 } },
  ];
  const stats = traceStats(events);
  assert.deepEqual(stats.calls.map((c) => [c.key, c.count, c.min, c.max]), [
    ["dev:read", 1, 1, 1],
    ["sim:read", 2, 6, 40],
    ["sim:readRegister", 1, 18, 18],
  ]);
  const read = stats.calls[1];
  assert.equal(read.mean, 23);
  assert.equal(read.stddev, 17);
  assert.equal(read.p50, 6);
  assert.equal(read.p99, 40);
  assert.deepEqual(stats.unmatchedEnds, [{ key: "sim:read", timestamp: 5 }]);
  assert.deepEqual(stats.unmatchedBegins, [{ key: "dev:close", timestamp: 70 }]);
  assert.deepEqual(traceStats(events, { backend: "dev" }).calls.map((c) => c.key), ["dev:read"]);
  assert.deepEqual(traceStats(events, { backend: "de" }).calls, [], "a name, not a prefix");
  // `ssh` takes in `ssh+agent` (the open is traced under the scheme, the calls under the name).
  const ssh = [
    ev("begin", 1, "ssh", "open"),
    ev("end", 9, "ssh", "open"),
    ev("begin", 10, "ssh+agent", "read"),
    ev("end", 12, "ssh+agent", "read"),
    ev("begin", 13, "sshfs", "read"),
    ev("end", 14, "sshfs", "read"),
  ];
  assert.deepEqual(traceStats(ssh, { backend: "ssh" }).calls.map((c) => c.key), [
    "ssh+agent:read",
    "ssh:open",
  ]);
  const table = formatTraceStats(stats);
  const lines = table.split("\n");
  assert.match(lines[0], /^key\s+count\s+min ns\s+max ns\s+mean ns\s+stddev ns\s+p50 ns\s+p99 ns$/);
  // aligned: every row ends its numeric columns at the same place as the header
  for (const l of lines.slice(1, 4)) assert.equal(l.length, lines[0].length, l);
  assert.match(table, /ends without a begin: 1 \(sim:read ×1\)/);
  assert.match(table, /begins without an end: 1 \(dev:close ×1\)/);
});

Deno.test("stats: random sequential calls agree with an independent computation", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 5_000_000 })), {
        minLength: 1,
        maxLength: 300,
      }),
      (calls) => {
        const fns = ["read", "readRegister", "close"];
        const events: TraceEvent[] = [];
        let t = 1000;
        const by = new Map<string, number[]>();
        for (const [k, d] of calls) {
          const fields = { backend_name: "sim", function_name: fns[k] };
          events.push({ name: "backend_call_begin", timestamp: t, fields });
          events.push({ name: "backend_call_end", timestamp: t + d, fields });
          t += d + 17;
          by.set(`sim:${fns[k]}`, [...(by.get(`sim:${fns[k]}`) ?? []), d]);
        }
        const stats = traceStats(events);
        assert.deepEqual(stats.calls.map((c) => c.key), [...by.keys()].sort());
        for (const c of stats.calls) {
          const d = by.get(c.key)!;
          const r = reference(d);
          assert.deepEqual(
            {
              count: c.count,
              min: c.min,
              max: c.max,
              mean: c.mean,
              p50: c.p50,
              p99: c.p99,
              total: c.total,
            },
            r,
          );
          const m = r.total / r.count;
          const sd = Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / d.length);
          assert.ok(Math.abs(c.stddev - sd) <= 0.5 + 1e-6 * sd, `${c.stddev} vs ${sd}`);
        }
      },
    ),
  );
});

Deno.test("report: one self-contained page, one point per period, a histogram per call", async () => {
  const memory = new MemoryTraceWriter();
  const { periods } = await tracedCapture([memory]);
  const html = traceReport(memory.events, { title: "t <&>" });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  assert.equal(html.match(/<circle class="period"/g)?.length, periods);
  assert.equal(html.match(/<circle class="headroom/g)?.length, periods);
  const keys = traceStats(memory.events).calls.map((c) => c.key);
  assert.equal(html.match(/<svg class="histogram"/g)?.length, keys.length);
  for (const k of keys) assert.ok(html.includes(`<h3>${k}</h3>`), k);
  assert.ok(html.includes("t &lt;&amp;&gt;"));
  assert.ok(!/https?:|<script|<link|src=/i.test(html), "the page must not reach the network");
  assert.match(html, /ring size \(16 pages, 64\.0 KiB\)/);
  // an empty trace still gives a page
  assert.match(traceReport([]), /0 periods/);
});

Deno.test("CLI: trace stats and report on a traced capture, bad input exits 2", async () => {
  const json = `${tmp}/cli.json`;
  const dir = `${tmp}/cli.ctf`;
  const cap = await ringdump([
    "capture",
    "--backend",
    // 3 s of slack in the ring: a loaded machine must not make this an overrun
    "sim:?pattern=counter&rate=256KiB",
    "--pages",
    "192",
    "--period",
    "10ms",
    "--duration",
    "300ms",
    "--out",
    `${tmp}/cli.bin`,
    "--trace",
    json,
    "--trace",
    dir,
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  const a = await ringdump(["trace", "stats", json, "--json"]);
  const b = await ringdump(["trace", "stats", dir, "--json"]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const ja = JSON.parse(new TextDecoder().decode(a.stdout));
  const jb = JSON.parse(new TextDecoder().decode(b.stdout));
  assert.deepEqual(ja.calls, jb.calls);
  assert.deepEqual(ja.calls.map((c: { key: string }) => c.key), [
    "sim:close",
    "sim:open",
    "sim:read",
    "sim:readRegister",
  ]);
  const table = await ringdump(["trace", "stats", dir, "--backend", "sim"]);
  assert.equal(table.code, 0);
  assert.match(new TextDecoder().decode(table.stdout), /^key\s+count.*\nsim:close\s+1\s/);
  const none = await ringdump(["trace", "stats", dir, "--backend", "devmem", "--json"]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(none.stdout)).calls, []);
  assert.match(none.stderr, /no calls of backend 'devmem'; the trace has: sim/);

  // bad input: exit 2, one clear line, no stack trace
  const stream = await Deno.readFile(`${dir}/stream_0`);
  const cutDir = `${tmp}/cut.ctf`;
  await Deno.mkdir(cutDir);
  await Deno.copyFile(`${dir}/metadata`, `${cutDir}/metadata`);
  await Deno.writeFile(`${cutDir}/stream_0`, stream.subarray(0, stream.length - 100));
  const text = await Deno.readTextFile(json);
  await Deno.writeTextFile(`${tmp}/cut.json`, text.slice(0, Math.floor(text.length * 0.6)));
  await Deno.writeFile(
    `${tmp}/junk.trace`,
    crypto.getRandomValues(new Uint8Array(64)).fill(7, 0, 4),
  );
  const cases: [string[], RegExp][] = [
    [["trace", "stats", cutDir], /truncated: packet \d+ declares \d+ bytes but only \d+ remain/],
    [["trace", "stats", `${tmp}/cut.json`], /JSON trace is truncated/],
    [["trace", "report", `${tmp}/cut.json`, "-o", `${tmp}/x.html`], /JSON trace is truncated/],
    [["trace", "stats", `${tmp}/junk.trace`], /unknown trace format/],
    [["trace", "stats", json, "--format", "xml"], /Allowed choices are json, ctf/],
    [["trace", "stats", `${tmp}/missing.json`], /no such trace/],
    [[
      "capture",
      "--duration",
      "50ms",
      "--out",
      `${tmp}/y.bin`,
      "--trace",
      `${tmp}/t`,
      "--trace-format",
      "xml",
    ], /Allowed choices are json, ctf/],
    [
      ["capture", "--duration", "50ms", "--out", `${tmp}/y.bin`, "--trace", `${tmp}/no/dir/t.json`],
      /--trace: cannot write .*directory does not exist/,
    ],
    [["trace", "report", json, "-o", `${tmp}/no/dir/r.html`], /--out: cannot write/],
  ];
  for (const [args, message] of cases) {
    const r = await ringdump(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  }

  // an end without a begin is reported, not fatal
  const doc = JSON.parse(text);
  const firstBegin = doc.traceEvents.findIndex((e: { ph: string; name: string }) =>
    e.ph === "B" && e.name === "backend_call"
  );
  doc.traceEvents.splice(firstBegin, 1);
  await Deno.writeTextFile(`${tmp}/orphan.json`, JSON.stringify(doc));
  const orphan = await ringdump(["trace", "stats", `${tmp}/orphan.json`]);
  assert.equal(orphan.code, 0, orphan.stderr);
  assert.match(orphan.stderr, /1 backend_call_end without a begin/);
  assert.match(new TextDecoder().decode(orphan.stdout), /ends without a begin: 1/);

  const rep = await ringdump(["trace", "report", dir, "-o", `${tmp}/r.html`]);
  assert.equal(rep.code, 0, rep.stderr);
  const periods = (await readTrace(dir)).events.filter((e) => e.name === "dumper_period_end");
  const html = await Deno.readTextFile(`${tmp}/r.html`);
  assert.equal(html.match(/<circle class="period"/g)?.length, periods.length);
  assert.match(rep.stderr, new RegExp(`${periods.length} periods`));
});

Deno.test("both writers round-trip arbitrary events (strings with quotes, unicode, escapes)", async () => {
  const stringTps = TRACEPOINTS.filter((t) => t.fields.some((f) => f.type === "string"));
  const intTps = TRACEPOINTS.filter((t) => t.fields.every((f) => f.type !== "string"));
  const text = fc.string({ unit: "grapheme", maxLength: 12 }).filter((s) => !s.includes("\0"));
  let k = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(
          fc.boolean(),
          fc.nat(20),
          fc.array(text, { minLength: 2, maxLength: 2 }),
          fc.array(fc.maxSafeNat(), { minLength: 10, maxLength: 10 }),
          fc.nat(1_000_000),
        ),
        { maxLength: 40 },
      ),
      async (specs) => {
        let t = 0;
        const events: TraceEvent[] = specs.map(([str, which, strs, ints, dt]) => {
          const tp = str ? stringTps[which % stringTps.length] : intTps[which % intTps.length];
          const fields: Record<string, string | number> = {};
          let si = 0, ii = 0;
          for (const f of tp.fields) fields[f.name] = f.type === "string" ? strs[si++] : ints[ii++];
          return { name: tp.name, timestamp: t += dt, fields };
        });
        const json = `${tmp}/rt${k}.json`, dir = `${tmp}/rt${k++}.ctf`;
        const writers = [await JsonTraceWriter.open(json), await CtfTraceWriter.open(dir)];
        const chunk = TraceChunk.fromEvents(events);
        assert.deepEqual(chunk.events(), events);
        for (const w of writers) {
          w.write(chunk);
          w.close();
        }
        assert.deepEqual((await readTrace(json)).events, events);
        assert.deepEqual((await readTrace(dir)).events, events);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("overruns: period_end counts the lost pages; a failing capture still balances its spans", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
  for (const overrun of ["gap", "fail"] as const) {
    const clock = new VirtualClock();
    const memory = new MemoryTraceWriter();
    const json = `${tmp}/overrun-${overrun}.json`;
    const session = startTracing([memory, await JsonTraceWriter.open(json)], {
      now: () => Math.round(clock.now() * 1e6),
    });
    const backend = openSim(geometry, { pattern: "counter", rate: 1 << 20, clock });
    const dumper = new Dumper(backend, new MemorySink(), {
      geometry,
      period: 100,
      duration: 500,
      overrun,
      clock,
      fixedPeriod: true, // 1 MiB/s into the ring on the reference's beat: an overrun a period
    });
    try {
      await dumper.run();
      assert.equal(overrun, "gap");
    } catch (e) {
      assert.equal(overrun, "fail", String(e));
    } finally {
      session.stop();
    }
    const ends = memory.events.filter((e) => e.name === "dumper_period_end");
    const lost = ends.reduce((a, e) => a + Number(e.fields.lost_pages), 0);
    assert.equal(lost, dumper.stats.lostPages);
    if (overrun === "gap") {
      assert.ok(lost > 0);
      // Every poll but the first and the final drain: the fixed beat's first
      // poll comes half a period in, and so the drain half a period after the last.
      assert.ok(ends.length >= 4, `${ends.length} polls`);
      assert.ok(
        ends.slice(1, -1).every((e) => Number(e.fields.headroom_ppm) > 1e6),
        "headroom past the ring",
      );
    }
    assert.deepEqual(checkChromeTrace(JSON.parse(await Deno.readTextFile(json))), []);
  }
});
