import assert from "node:assert/strict";
import { openSim, simBackend } from "../backends/sim.ts";
import { MemoryRing, SimDevice } from "../lib/sim/device.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { BackendError, UsageError } from "../lib/errors.ts";

const g = ringGeometry({ base: 0x1000n, pageSize: 64, pages: 8, counterWrap: 20 });

Deno.test("SimDevice: writes pages at the rate, in bursts, slot = n % pages, counter wraps", () => {
  const clock = new VirtualClock();
  const mem = new MemoryRing(g.pageSize, g.pages);
  const dev = new SimDevice(g, {
    memory: mem,
    clock,
    rate: 64 * 100,
    burst: 3,
    start: 18,
    pattern: "counter",
  });
  assert.equal(mem.counter, 18);
  clock.advance(50); // 5 pages due, bursts of 3 -> 3
  assert.equal(dev.step(), 3);
  assert.equal(mem.counter, (18 + 3) % 20);
  clock.advance(1000); // 105 due -> 105 (multiple of 3)
  dev.step();
  assert.equal(dev.written, 105);
  assert.equal(mem.counter, (18 + 105) % 20);
  // the last lap is in the ring: page k at slot (18 + k) % 8 holds stream offset k * 64
  for (let k = 97; k < 105; k++) {
    const slot = (18 + k) % 8;
    const r = checkCounter(mem.bytes.subarray(slot * 64, slot * 64 + 64));
    assert.ok(r.ok);
    assert.equal(r.firstOffset, BigInt(k * 64));
  }
});

Deno.test("SimDevice: validates its options", () => {
  const mem = new MemoryRing(g.pageSize, g.pages);
  for (const bad of [{ rate: 0 }, { burst: 0 }, { start: 20 }, { start: -1 }]) {
    assert.throws(() => new SimDevice(g, { memory: mem, ...bad }), UsageError);
  }
  const odd = ringGeometry({ base: 0n, pageSize: 12, pages: 4 });
  assert.throws(
    () => new SimDevice(odd, { memory: new MemoryRing(12, 4), pattern: "counter" }),
    /multiple of 8/,
  );
});

Deno.test("sim backend: counter register and ring reads, errors for other addresses", async () => {
  const clock = new VirtualClock();
  const sim = openSim(g, { pattern: "counter", rate: 64 * 1000, clock });
  clock.advance(5);
  assert.equal(await sim.readRegister(g.counterAddress, 32), 5n);
  const page = new Uint8Array(64 * 2);
  await sim.read(0x1000n + 64n, page);
  assert.equal(checkCounter(page).firstOffset, 64n);
  await assert.rejects(sim.readRegister(0x9999n, 32), BackendError);
  await assert.rejects(sim.readRegister(g.counterAddress, 64), /32-bit register/);
  await assert.rejects(sim.read(0x1000n + 64n * 7n, page), /outside the ring/);
  await sim.close();
  await assert.rejects(sim.read(0x1000n, page), /after close/);
});

Deno.test("sim backend: latency lets the writer run during a read (torn data is real)", async () => {
  const clock = new VirtualClock();
  const sim = openSim(g, { pattern: "counter", rate: 64 * 1000, clock, latency: 20 });
  const whole = new Uint8Array(g.ringBytes);
  await sim.read(g.base, whole);
  // 20 pages were written while the second half was being read
  assert.equal(sim.device.written, 20);
  assert.equal(checkCounter(whole).ok, false);
});

Deno.test("sim backend: fail-after simulates a device fault", async () => {
  const sim = openSim(g, { failAfter: 2 });
  await sim.readRegister(g.counterAddress, 32);
  await sim.readRegister(g.counterAddress, 32);
  await assert.rejects(sim.readRegister(g.counterAddress, 32), /simulated device fault/);
});

Deno.test("sim: URL options are parsed, unknown ones rejected", async () => {
  const b = await simBackend.open(new URL("sim:?pattern=counter&rate=1MiB&burst=2&start=3"), {
    geometry: g,
  }) as ReturnType<typeof openSim>;
  assert.equal(b.device.rate, 1 << 20);
  assert.equal(b.device.burst, 2);
  assert.equal(b.device.pattern, "counter");
  await assert.rejects(
    simBackend.open(new URL("sim:?rat=1MiB"), { geometry: g }),
    /unknown option 'rat'; known: rate, pattern/,
  );
  await assert.rejects(simBackend.open(new URL("sim:?pattern=noise"), { geometry: g }), UsageError);
  assert.deepEqual(await simBackend.probe(), { usable: true, detail: "built in" });
});
