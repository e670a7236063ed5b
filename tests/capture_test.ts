import assert from "node:assert/strict";
import { capture, dump } from "../lib/capture.ts";
import { VirtualClock } from "../lib/clock.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { verifyCounterFile } from "../lib/sim/verify.ts";
import { openSim } from "../backends/sim.ts";
import { ringGeometry } from "../lib/ring.ts";
import { OverrunError, UsageError } from "../lib/errors.ts";

Deno.test("dump(): the fluent API runs a whole capture into a file", async () => {
  const out = await Deno.makeTempFile();
  const clock = new VirtualClock();
  const stats = await dump("sim:?pattern=counter&rate=1MiB")
    .pageSize("4KiB").pages(64).counterWrap(0x100).period("20ms").duration("2s").clock(clock)
    .to(out);
  assert.equal(stats.bytes, 2 << 20);
  const r = await verifyCounterFile(out);
  assert.equal(r.bytes, 2 << 20);
  await Deno.remove(out);
});

Deno.test("dump(): builders are immutable and reusable", async () => {
  const clock = new VirtualClock();
  const base = dump("sim:?pattern=counter&rate=64KiB").pages(16).clock(clock).period(10);
  const a = new MemorySink();
  const b = new MemorySink();
  await base.duration(100).to(a);
  await base.maxBytes("8KiB").to(b);
  assert.equal(b.bytes().length, 8192);
  assert.ok(a.bytes().length > 0);
  // inFlight reaches the dumper: a whole ring in flight is refused.
  await assert.rejects(
    base.inFlight(16).duration(100).to(new MemorySink()),
    /inFlight must be a whole number of pages/,
  );
  assert.ok((await base.inFlight(1).duration(100).to(new MemorySink())).bytes > 0);
});

Deno.test("capture(): an open backend and sink are left open; errors still flush", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 4 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 4096 * 100, clock, burst: 5 });
  const sink = new MemorySink();
  await assert.rejects(
    capture({ backend: sim, geometry, out: sink, period: 100, clock }),
    OverrunError,
  );
  // still open: reads work
  await sim.readRegister(geometry.counterAddress, 32);
  await assert.rejects(
    capture({ backend: "nope:", geometry, out: sink }),
    /unknown backend scheme 'nope:'/,
  );
  await assert.rejects(
    capture({ geometry: { base: 0n, pageSize: 0, pages: 4 }, out: sink }),
    UsageError,
  );
});
