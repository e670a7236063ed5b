/**
 * The public library (`mod.ts`): what a script can do with its exports alone.
 */
import assert from "node:assert/strict";
import * as ringdump from "../mod.ts";

Deno.test("mod.ts: a capture, its verification and a trace of it, from the library alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const memory = new ringdump.MemoryTraceWriter();
    const json = await ringdump.openTraceWriter(`${dir}/t.json`);
    const session = ringdump.startTracing([memory, json]);
    let stats: ringdump.DumpStats;
    try {
      stats = await ringdump.dump("sim:?pattern=counter&rate=1MiB")
        .pageSize("4KiB").pages(64).counterWrap(0x100).period("20ms").duration("300ms")
        .clock(new ringdump.VirtualClock())
        .to(`${dir}/c.bin`);
    } finally {
      session.stop();
    }
    assert.equal(ringdump.tracing.enabled, false, "stopping the session turns tracing off");
    const verified = await ringdump.verifyCounterFile(`${dir}/c.bin`);
    assert.equal(verified.bytes, stats.bytes);
    assert.ok(stats.bytes > 0);

    // The same events in memory and in the file; stats from either agree.
    const fromFile = await ringdump.readTrace(`${dir}/t.json`);
    assert.equal(fromFile.events.length, memory.events.length);
    const calls = ringdump.traceStats(fromFile.events).calls;
    const reads = calls.find((c) => c.key === "sim:read");
    // Every read of the capture, plus the warm-up read before its baseline.
    assert.equal(reads?.count, stats.reads + 1);
    const counter = calls.find((c) => c.key === "sim:readRegister");
    assert.equal(counter?.count, stats.counterReads + 1);
    const names = new Set(memory.events.map((e) => e.name));
    for (const n of ["dumper_period_begin", "dumper_period_end", "sink_write_begin"]) {
      assert.ok(names.has(n), n);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mod.ts: the error classes are exported and catchable by type", async () => {
  const err = await ringdump.dump("sim:?pattern=counter&rate=1MiB")
    .pages(16).period(100).fixedPeriod().duration(1000).clock(new ringdump.VirtualClock())
    .to(new ringdump.MemorySink())
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof ringdump.OverrunError, String(err));
  assert.ok(err instanceof ringdump.RingdumpError);
  assert.equal(err.pages, 16);
  assert.ok(err.lostPages > 0);
});
