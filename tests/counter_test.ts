import assert from "node:assert/strict";
import { LogicalCounter, wrapBackendError } from "../lib/counter.ts";
import { emptyDumpStats } from "../lib/dumper_options.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import type { Backend } from "../backends/types.ts";
import { BackendError, DeviceError, UsageError } from "../lib/errors.ts";
import { MemoryTraceWriter, startTracing } from "../lib/trace/mod.ts";

/** A register that reads the given values in turn (an Error: that read throws). */
function scripted(values: (bigint | Error)[]): Backend & { reads: number } {
  const b = {
    name: "scripted",
    reads: 0,
    readRegister(): Promise<bigint> {
      const v = values[b.reads++];
      if (v === undefined) throw new Error("no more readings scripted");
      return v instanceof Error ? Promise.reject(v) : Promise.resolve(v);
    },
    read: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return b;
}

const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16, counterWrap: 256 });

function counter(backend: Backend, traceAs?: string) {
  const stats = emptyDumpStats();
  const c = new LogicalCounter(backend, {
    geometry,
    policy: "fail",
    period: 100,
    clock: new VirtualClock(),
    stats,
    next: () => 0,
    onLoss: () => {},
    traceAs,
  });
  return { c, stats };
}

Deno.test("LogicalCounter.read: a value at or above the counter wrap is a DeviceError naming the register and the wrap; a given value is taken without a read", async () => {
  const b = scripted([7n, 256n]);
  const { c, stats } = counter(b);
  assert.equal(await c.read(), 7);
  await assert.rejects(() => c.read(), (e: unknown) => {
    assert.ok(e instanceof DeviceError);
    assert.match(e.message, /not below the counter wrap 0x100/);
    assert.match(e.message, /check the counter address and the counter wrap/);
    return true;
  });
  assert.equal(await c.read(9n), 9);
  assert.equal(b.reads, 2);
  // Every reading counts: the rejected one, and the one a batch of reads brought.
  assert.equal(stats.counterReads, 3);
});

Deno.test("LogicalCounter.readLogical: unwraps across the counter wrap; a jump of more than the ring is read twice before it is believed", async () => {
  const b = scripted([4n, 30n, 30n]);
  const { c } = counter(b);
  c.start(0, 250);
  assert.equal(await c.readLogical(250), 260); // 250 -> 4 past the wrap of 256: 10 pages
  assert.equal(b.reads, 1);
  assert.equal(await c.readLogical(260), 286); // 26 more, more than the ring's 16
  assert.equal(b.reads, 3);
  assert.equal(c.latest, 286);
});

Deno.test("LogicalCounter: with traceAs, each counter read is framed once, also when it fails (as a BackendError saying what was read); without it, not framed", async () => {
  const memory = new MemoryTraceWriter();
  const session = startTracing(memory);
  try {
    const { c } = counter(scripted([3n, new Error("EIO")]), "board");
    assert.equal(await c.read(), 3);
    await assert.rejects(() => c.read(), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.equal(e.message, "scripted: reading the counter register failed: EIO");
      return true;
    });
    const { c: plain } = counter(scripted([5n]));
    assert.equal(await plain.read(), 5);
  } finally {
    session.stop();
  }
  assert.deepEqual(
    memory.events.map((e) => `${e.name} ${Object.values(e.fields).join(",")}`),
    [
      "backend_call_begin board,readRegister",
      "backend_call_end board,readRegister",
      "backend_call_begin board,readRegister",
      "backend_call_end board,readRegister",
    ],
  );
});

Deno.test("wrapBackendError: a RingdumpError passes unchanged; anything else becomes a BackendError with the backend, what was done and the cause", () => {
  const b = scripted([]);
  const usage = new UsageError("bad flag");
  assert.equal(wrapBackendError(usage, b, "reading"), usage);
  const cause = new Error("EIO");
  const e = wrapBackendError(cause, b, "reading 4096 bytes at 0x0");
  assert.ok(e instanceof BackendError);
  assert.equal(e.message, "scripted: reading 4096 bytes at 0x0 failed: EIO");
  assert.equal(e.backend, "scripted");
  assert.equal(e.cause, cause);
});
