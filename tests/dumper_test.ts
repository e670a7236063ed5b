import assert from "node:assert/strict";
import fc from "fast-check";
import { Dumper } from "../lib/dumper.ts";
import type { DumpEvent } from "../lib/dumper_options.ts";
import { type RingGeometry, ringGeometry } from "../lib/ring.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { VirtualClock } from "../lib/clock.ts";
import { openSim } from "../backends/sim.ts";
import { checkCounter, fillCounter } from "../lib/sim/pattern.ts";
import type { Backend } from "../backends/types.ts";
import {
  BackendError,
  DeviceError,
  OverrunError,
  TornReadError,
  UsageError,
} from "../lib/errors.ts";

/** Splits a counter-pattern capture into contiguous runs: [[firstOffset, bytes], ...]. */
function runsOf(data: Uint8Array, pageSize: number): [number, number][] {
  const runs: [number, number][] = [];
  let off = 0;
  while (off < data.length) {
    const r = checkCounter(data.subarray(off));
    if (r.ok) {
      runs.push([Number(r.firstOffset), data.length - off]);
      break;
    }
    assert.equal(r.badAt! % pageSize, 0, "a run may only break at a page boundary");
    runs.push([Number(r.firstOffset), r.badAt!]);
    off += r.badAt!;
  }
  return runs;
}

interface Scenario {
  pageSize: number;
  pages: number;
  wrapExtra: number;
  start: number;
  pagesPerSecond: number;
  burst: number;
  period: number;
  latency: number;
  periods: number;
  maxReadPages: number;
  /** DumperOptions.rampBytes in pages (0: no ramp). */
  rampPages: number;
}

const scenario = fc.record({
  pageSize: fc.integer({ min: 1, max: 64 }).map((n) => n * 8),
  pages: fc.integer({ min: 1, max: 40 }),
  wrapExtra: fc.integer({ min: 1, max: 200 }),
  start: fc.nat(),
  pagesPerSecond: fc.integer({ min: 1, max: 20_000 }),
  burst: fc.integer({ min: 1, max: 8 }),
  period: fc.integer({ min: 1, max: 40 }),
  latency: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })),
  periods: fc.integer({ min: 1, max: 40 }),
  maxReadPages: fc.integer({ min: 1, max: 50 }),
  rampPages: fc.integer({ min: 0, max: 8 }),
});

/**
 * A counter that advances by a whole wrap or more between two reads cannot be
 * told from one that advanced less: no reader can detect that (see README,
 * "Limits"). Such scenarios are outside what any dumper can handle.
 */
function observable(s: Scenario): boolean {
  const interval = Math.max(s.period, s.latency);
  return Math.ceil((s.pagesPerSecond * interval) / 1000) + s.burst < s.pages + s.wrapExtra;
}

function setUp(s: Scenario) {
  fc.pre(observable(s));
  const geometry = ringGeometry({
    base: 0x4000_0000n,
    pageSize: s.pageSize,
    pages: s.pages,
    counterWrap: s.pages + s.wrapExtra,
  });
  const clock = new VirtualClock();
  const sim = openSim(geometry, {
    pattern: "counter",
    rate: s.pagesPerSecond * s.pageSize,
    burst: s.burst,
    start: s.start % geometry.counterWrap,
    clock,
    latency: s.latency,
  });
  return { geometry, clock, sim, sink: new MemorySink() };
}

Deno.test("dumper, fail policy: output is the device's stream exactly, or an overrun with every byte before it correct (property)", async () => {
  let clean = 0, overruns = 0, torn = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const { geometry, clock, sim, sink } = setUp(s);
      const duration = s.period * s.periods;
      const dumper = new Dumper(sim, sink, {
        geometry,
        period: s.period,
        duration,
        clock,
        maxReadBytes: s.maxReadPages * s.pageSize,
        rampBytes: s.rampPages * s.pageSize,
        warmUp: false,
      });
      const out = () => sink.bytes();
      try {
        const stats = await dumper.run();
        clean++;
        const data = out();
        assert.equal(data.length, stats.bytes);
        assert.equal(stats.bytes, (stats.endPage - stats.firstPage) * s.pageSize);
        assert.equal(stats.lostPages, 0);
        // Nothing the hardware wrote before the stop is lost (final drain).
        assert.ok(stats.endPage - stats.firstPage >= sim.device.due(duration));
        if (data.length > 0) {
          const r = checkCounter(data);
          assert.ok(r.ok, `not contiguous at ${r.badAt}`);
          assert.equal(r.firstOffset, 0n); // baseline at t=0 (no warm-up: it takes virtual time)
        }
      } catch (e) {
        if (!(e instanceof OverrunError)) throw e;
        if (e instanceof TornReadError) torn++;
        else overruns++;
        const data = out();
        assert.equal(data.length, e.capturedPages * s.pageSize);
        if (data.length > 0) {
          const r = checkCounter(data);
          assert.ok(r.ok, `bytes before the overrun are not contiguous at ${r.badAt}`);
          assert.equal(r.firstOffset, 0n);
        }
      }
    }),
    { numRuns: 600, seed: 20261122 },
  );
  // The generator must exercise every outcome, or the property proves little.
  assert.ok(
    clean > 50 && overruns > 20 && torn > 5,
    `clean ${clean} overrun ${overruns} torn ${torn}`,
  );
});

Deno.test("dumper, gap policy: output is contiguous runs whose gaps add up to the lost pages (property)", async () => {
  let lossy = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const { geometry, clock, sim, sink } = setUp(s);
      const events: DumpEvent[] = [];
      const duration = s.period * s.periods;
      const stats = await new Dumper(sim, sink, {
        geometry,
        period: s.period,
        duration,
        clock,
        overrun: "gap",
        maxReadBytes: s.maxReadPages * s.pageSize,
        rampBytes: s.rampPages * s.pageSize,
        onDump: (e) => void events.push(e),
        // The stream starts at t=0: a warm-up read takes virtual time, and a
        // counter that wraps before the baseline at a wrap that is not a
        // multiple of the ring is outside what any reader can place (README, Limits).
        warmUp: false,
      }).run();
      const data = sink.bytes();
      assert.equal(data.length, stats.bytes);
      assert.equal(
        stats.bytes / s.pageSize + stats.lostPages,
        stats.endPage - stats.firstPage,
      );
      assert.ok(stats.endPage - stats.firstPage >= sim.device.due(duration));
      const runs = runsOf(data, s.pageSize);
      let expected = 0;
      let lost = 0;
      for (const [first, bytes] of runs) {
        assert.ok(first >= expected, "data never goes backwards");
        lost += (first - expected) / s.pageSize;
        expected = first + bytes;
      }
      lost += (stats.endPage - stats.firstPage) - expected / s.pageSize;
      assert.equal(lost, stats.lostPages);
      assert.equal(events.reduce((a, e) => a + e.lostPages, 0), stats.lostPages);
      assert.equal(events.reduce((a, e) => a + e.bytes, 0), stats.bytes);
      if (stats.lostPages > 0) lossy++;
    }),
    { numRuns: 400, seed: 1122 },
  );
  assert.ok(lossy > 20, `only ${lossy} runs lost data`);
});

Deno.test("dumper: a full lap (delta == pages) is read whole, in two parts", async () => {
  // 8 pages of 64 bytes, starting mid-ring; the fixed beat's first poll
  // (half a period, 5 ms, after the baseline) finds exactly 8 new pages.
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 8, counterWrap: 0x100 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 1600 * 64, start: 3, clock });
  const reads: [bigint, number][] = [];
  const spy: Backend = {
    name: "spy",
    readRegister: (a, w) => sim.readRegister(a, w),
    read: (a, d) => {
      reads.push([a, d.length]);
      return sim.read(a, d);
    },
    close: () => sim.close(),
  };
  const sink = new MemorySink();
  // inFlight 0: the in-process sim publishes every page it has written at once.
  const stats = await new Dumper(spy, sink, {
    geometry,
    period: 10,
    duration: 5, // that poll is the last
    clock,
    inFlight: 0,
    fixedPeriod: true, // the reference's beat
  }).run();
  assert.equal(stats.periods, 1);
  assert.equal(stats.maxPagesPerPeriod, 8);
  assert.equal(stats.headroom, 1);
  assert.equal(stats.bytes, 8 * 64);
  assert.ok(checkCounter(sink.bytes()).ok);
  // the warm-up: the whole ring once, before the baseline, not captured (reads only);
  // then the first period: start index 3 -> [3..8) then [0..3)
  assert.deepEqual(reads.slice(0, 3), [[0n, 8 * 64], [3n * 64n, 5 * 64], [0n, 3 * 64]]);
});

/**
 * Hardware that writes a page and only then advances its counter: while the
 * counter reads `c` it is writing page `c` into the slot of page `c - pages`.
 * A read of the ring catches that slot half written (the counter does not move
 * until the next period), which is the hazard `inFlight` covers.
 */
function writeThenAdvance(geometry: RingGeometry, clock: VirtualClock, pagesPerPeriod: number) {
  const { pageSize, pages, counterWrap } = geometry;
  const mem = new Uint8Array(geometry.ringBytes);
  let written = 0;
  const slot = (n: number) => mem.subarray((n % pages) * pageSize, (n % pages + 1) * pageSize);
  const due = () => Math.floor(clock.now() / 10) * pagesPerPeriod;
  const backend: Backend = {
    name: "write-then-advance",
    readRegister() {
      for (; written < due(); written++) fillCounter(slot(written), written * pageSize);
      return Promise.resolve(BigInt(written % counterWrap));
    },
    read(address, dest) {
      // Page `written` is in flight: its first half has landed.
      fillCounter(slot(written).subarray(0, pageSize / 2), written * pageSize);
      const off = Number(address - geometry.base);
      dest.set(mem.subarray(off, off + dest.length));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return backend;
}

Deno.test("dumper: inFlight catches a page torn by hardware that writes before it counts", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 8, counterWrap: 0x100 });
  const run = (inFlight: number, overrun: "fail" | "gap", pagesPerPeriod: number) => {
    const clock = new VirtualClock();
    const sink = new MemorySink();
    const backend = writeThenAdvance(geometry, clock, pagesPerPeriod);
    return new Dumper(backend, sink, {
      geometry,
      period: 10,
      duration: 50,
      clock,
      inFlight,
      overrun,
    })
      .run().then((stats) => ({ stats, sink }), (error) => ({ error, sink }));
  };
  // A full lap every period. docs/design.md rule 4 as written (inFlight 0) cannot
  // see the half-overwritten oldest page: the output is corrupt.
  const blind = await run(0, "fail", 8);
  assert.ok("stats" in blind);
  assert.equal(checkCounter(blind.sink.bytes()).ok, false);
  // inFlight 1: the oldest page of each lap is torn, reported, never written.
  const failed = await run(1, "fail", 8);
  assert.ok("error" in failed && failed.error instanceof TornReadError, String(failed));
  assert.equal(failed.error.firstPage, 0);
  assert.equal(failed.sink.bytes().length, 0);
  const gap = await run(1, "gap", 8);
  assert.ok("stats" in gap);
  assert.equal(gap.stats.tornReads, 5);
  assert.equal(gap.stats.lostPages, 5);
  assert.equal(gap.stats.pages, 5 * 7);
  // Every byte written is the right one: runs of 7 pages, each lap's first page missing.
  assert.deepEqual(runsOf(gap.sink.bytes(), 64), [1, 9, 17, 25, 33].map((p) => [p * 64, 7 * 64]));
  // Below a full lap nothing is at risk: the stream is exact, nothing lost.
  const calm = await run(1, "fail", 6);
  assert.ok("stats" in calm);
  assert.equal(calm.stats.lostPages, 0);
  assert.equal(calm.stats.bytes, 5 * 6 * 64);
  assert.ok(checkCounter(calm.sink.bytes()).ok);
});

Deno.test("dumper: the first counter read is the baseline, not 0", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16, counterWrap: 0x40 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 100 * 64, start: 0x3e, clock });
  clock.advance(50); // 5 pages written before the capture starts
  const sink = new MemorySink();
  const stats = await new Dumper(sim, sink, { geometry, period: 20, duration: 200, clock }).run();
  assert.equal(stats.firstPage, (0x3e + 5) % 0x40);
  const r = checkCounter(sink.bytes());
  assert.ok(r.ok);
  assert.equal(r.firstOffset, 5n * 64n); // starts where the capture started
  assert.equal(stats.pages, 20);
});

Deno.test("dumper: stop by signal drains what was written before the stop", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 1000 * 64, clock });
  const controller = new AbortController();
  const sink = new MemorySink();
  const stats = await new Dumper(sim, sink, {
    geometry,
    period: 10,
    clock,
    signal: controller.signal,
    onDump: (e) => {
      if (e.totalBytes >= 50 * 64) controller.abort();
    },
  }).run();
  assert.equal(stats.stopReason, "signal");
  assert.equal(stats.pages, sim.device.written);
  assert.ok(checkCounter(sink.bytes()).ok);
});

Deno.test("dumper: max bytes cuts the last append to fit", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 1000 * 64, clock });
  const sink = new MemorySink();
  const stats = await new Dumper(sim, sink, { geometry, period: 10, clock, maxBytes: 1000 })
    .run();
  assert.equal(stats.stopReason, "max-bytes");
  assert.equal(sink.bytes().length, 1000);
  assert.equal(stats.bytes, 1000);
});

Deno.test("dumper: a counter beyond the wrap is a device error", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16, counterWrap: 0x20 });
  const bad: Backend = {
    name: "bad",
    readRegister: () => Promise.resolve(0x20n),
    read: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  await assert.rejects(
    new Dumper(bad, new MemorySink(), { geometry, period: 10, clock: new VirtualClock() }).run(),
    (e: unknown) => e instanceof DeviceError && /not below the counter wrap 0x20/.test(e.message),
  );
});

Deno.test("dumper: a backend failing mid-capture is a BackendError and the data before it is kept", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 500 * 64, clock, failAfter: 25 });
  const sink = new MemorySink();
  let flushed = false;
  const origFlush = sink.flush.bind(sink);
  sink.flush = () => {
    flushed = true;
    return origFlush();
  };
  await assert.rejects(
    new Dumper(sim, sink, { geometry, period: 10, clock, duration: 10_000 }).run(),
    (e: unknown) => e instanceof BackendError && e.exitCode === 3,
  );
  assert.ok(flushed, "the sink was flushed after the error");
  const data = sink.bytes();
  assert.ok(data.length > 0);
  assert.ok(checkCounter(data).ok);
});

Deno.test("dumper: a plain exception from a backend becomes a BackendError naming the operation", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const broken: Backend = {
    name: "broken",
    readRegister: () => Promise.reject(new Error("bus error")),
    read: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  await assert.rejects(
    new Dumper(broken, new MemorySink(), { geometry, period: 10, clock: new VirtualClock() }).run(),
    (e: unknown) =>
      e instanceof BackendError && /broken: reading the counter register failed: bus error/.test(
        e.message,
      ),
  );
});

Deno.test("dumper: invalid options are usage errors", () => {
  const geometry: RingGeometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const sim = openSim(geometry, {});
  for (
    const bad of [
      { period: 0 },
      { period: -5 },
      { overrun: "skip" },
      { maxBytes: 0 },
      { inFlight: -1 },
      { inFlight: 16 },
      { inFlight: 1.5 },
    ]
  ) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => new Dumper(sim, new MemorySink(), { geometry, ...(bad as any) }),
      UsageError,
    );
  }
});

Deno.test("dumper: overrun error carries the page counts", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 100 * 64, burst: 20, clock });
  const sink = new MemorySink();
  const err = await new Dumper(sim, sink, { geometry, period: 50, clock, duration: 1000 }).run()
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof OverrunError && !(err instanceof TornReadError));
  assert.equal(err.pages, 16);
  assert.equal(err.lastPage, 0);
  assert.equal(err.currentPage, 20);
  assert.equal(err.lostPages, 4);
  assert.equal(err.capturedPages, 0);
  assert.match(err.message, /20 new pages since the last read .* ring holds only 16; 4 pages lost/);
});

Deno.test("dumper, one counter check per batch of reads: output is still the device's stream exactly, or an error with every byte before it correct (property)", async () => {
  let clean = 0, overruns = 0, torn = 0, lossy = 0;
  const batched = fc.record({
    s: scenario,
    batchPages: fc.integer({ min: 1, max: 60 }),
    gap: fc.boolean(),
    readThen: fc.boolean(),
    // Batches in flight together (pipelineBytes, as the agent): none, served
    // in the order they were made (the agent), or interleaved with each other.
    pipeline: fc.constantFrom("none", "ordered", "interleaved"),
    pipelineBatches: fc.integer({ min: 2, max: 8 }),
  });
  let pipelined = 0;
  await fc.assert(
    fc.asyncProperty(
      batched,
      async ({ s, batchPages, gap, readThen, pipeline, pipelineBatches }) => {
        // As observable(): no reader can see a counter that moves a whole wrap
        // between two of its readings, and a batch's reads all come between two.
        const reads = Math.ceil(Math.min(batchPages, s.pages) / s.maxReadPages) + 1;
        const between = Math.max(s.period, s.latency) + reads * s.latency;
        fc.pre(Math.ceil((s.pagesPerSecond * between) / 1000) + s.burst < s.pages + s.wrapExtra);
        const { geometry, clock, sim, sink } = setUp(s);
        const duration = s.period * s.periods;
        // A backend that reads a batch and the counter as one operation (as ssh and the agent do).
        let queue: Promise<unknown> = Promise.resolve();
        const readThenRegister = async (
          reads: readonly { address: bigint; dest: Uint8Array }[],
          register: { address: bigint; width: 32 | 8 | 16 | 64 },
        ) => {
          for (const r of reads) await sim.read(r.address, r.dest);
          return await sim.readRegister(register.address, register.width);
        };
        const backend: Backend = readThen
          ? {
            name: sim.name,
            readRegister: (a, w) => sim.readRegister(a, w),
            read: (a, d) => sim.read(a, d),
            close: () => sim.close(),
            pipelineBytes: pipeline === "none"
              ? undefined
              : pipelineBatches * batchPages * s.pageSize,
            readThenRegister: pipeline === "ordered"
              ? (reads, register) => {
                // Served one call after another, in the order made (the agent).
                const p = queue.then(() => readThenRegister(reads, register));
                queue = p.catch(() => {});
                return p;
              }
              : readThenRegister,
          }
          : sim;
        if (readThen && pipeline !== "none") pipelined++;
        const dumper = new Dumper(backend, sink, {
          geometry,
          period: s.period,
          duration,
          clock,
          overrun: gap ? "gap" : "fail",
          maxReadBytes: s.maxReadPages * s.pageSize,
          checkBatchBytes: batchPages * s.pageSize,
          rampBytes: s.rampPages * s.pageSize,
          warmUp: false,
        });
        try {
          const stats = await dumper.run();
          const data = sink.bytes();
          assert.equal(data.length, stats.bytes);
          // A batch slower than a counter wrap is a reported loss of unknown size (gap policy).
          if (stats.unknownLosses === 0) {
            assert.equal(
              stats.bytes / s.pageSize + stats.lostPages,
              stats.endPage - stats.firstPage,
            );
          } else assert.ok(gap);
          assert.ok(stats.endPage - stats.firstPage >= sim.device.due(duration));
          // One re-read per batch: never more counter reads than the per-read check makes.
          assert.ok(stats.counterReads <= 2 * (stats.periods + stats.reads) + 1);
          if (!gap) {
            assert.equal(stats.lostPages, 0);
            if (data.length > 0) {
              const r = checkCounter(data);
              assert.ok(r.ok, `not contiguous at ${r.badAt}`);
              assert.equal(r.firstOffset, 0n);
            }
            clean++;
          } else {
            // Every byte kept is the device's own (runs break only at losses).
            let expected = 0, lost = 0;
            for (const [first, bytes] of runsOf(data, s.pageSize)) {
              assert.ok(first >= expected, "data never goes backwards");
              lost += (first - expected) / s.pageSize;
              expected = first + bytes;
            }
            lost += (stats.endPage - stats.firstPage) - expected / s.pageSize;
            if (stats.unknownLosses === 0) assert.equal(lost, stats.lostPages);
            if (stats.lostPages > 0) lossy++;
          }
        } catch (e) {
          if (gap || !(e instanceof OverrunError)) throw e;
          if (e instanceof TornReadError) torn++;
          else overruns++;
          const data = sink.bytes();
          assert.equal(data.length, e.capturedPages * s.pageSize);
          if (data.length > 0) {
            const r = checkCounter(data);
            assert.ok(r.ok, `bytes before the error are not contiguous at ${r.badAt}`);
            assert.equal(r.firstOffset, 0n);
          }
        }
      },
    ),
    { numRuns: 900, seed: 20261201 },
  );
  assert.ok(
    clean > 30 && overruns > 10 && torn > 5 && lossy > 10 && pipelined > 100,
    `clean ${clean} overrun ${overruns} torn ${torn} lossy ${lossy} pipelined ${pipelined}`,
  );
});

Deno.test("dumper: with checkBatchBytes a period's reads share one counter re-read", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 64 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 16 * 4096 * 10, clock });
  const run = async (checkBatchBytes?: number) => {
    const c = new VirtualClock();
    const b = openSim(geometry, { pattern: "counter", rate: 16 * 4096 * 10, clock: c });
    return await new Dumper(b, new MemorySink(), {
      geometry,
      period: 100,
      duration: 1000,
      clock: c,
      maxReadBytes: 4 * 4096,
      checkBatchBytes,
    }).run();
  };
  await sim.close();
  const perRead = await run(), batched = await run(64 * 4096);
  assert.equal(batched.bytes, perRead.bytes);
  assert.equal(batched.reads, perRead.reads);
  // 16 pages a period in 4 reads: 1 + 4 counter reads a period, or 1 + 1.
  assert.ok(perRead.counterReads >= perRead.periods + perRead.reads - 1, JSON.stringify(perRead));
  assert.ok(batched.counterReads <= 2 * batched.periods + 1, JSON.stringify(batched));
});

/**
 * A backend whose reads and counter reads take virtual time, as processes do
 * (pixeldump: the reads of a batch side by side, then one `devmem`): a
 * batch's reads `read` ms, each counter read `register` ms. Records the calls.
 */
function slowTools(
  geometry: RingGeometry,
  options: { load: number; read: number; register: number },
) {
  const clock = new VirtualClock();
  // load x ring / period (100 ms).
  const sim = openSim(geometry, {
    pattern: "counter",
    rate: options.load * geometry.ringBytes * 10,
    clock,
  });
  const calls: string[] = [];
  const register = async (a: bigint, w: 8 | 16 | 32 | 64) => {
    clock.advance(options.register);
    return await sim.readRegister(a, w);
  };
  const backend: Backend = {
    name: "slow-tools",
    checkBatchBytes: geometry.ringBytes,
    readRegister: (a, w) => {
      calls.push("C");
      return register(a, w);
    },
    read: async (a, d) => {
      clock.advance(options.read);
      await sim.read(a, d);
    },
    readThenRegister: async (reads, reg) => {
      calls.push(`R${reads.reduce((n, r) => n + r.dest.length, 0) / geometry.pageSize}+C`);
      clock.advance(options.read);
      for (const r of reads) await sim.read(r.address, r.dest);
      return await register(reg.address, reg.width);
    },
    close: () => sim.close(),
  };
  return { clock, backend, calls };
}

Deno.test("dumper: a head start: once the ring is more than half full at a poll's check, a poll first reads the pages the last check proved written, checked at once, and takes that check as its reading; at the fixed beat with slow tools nothing is lost up to 0.95 ring/period", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 400 });
  const run = async (load: number) => {
    // Reads 10 ms, counter reads 4 ms: a plain poll (counter, reads, check)
    // checks its oldest page 18 ms after a period's writing; R / (P + C) = 0.85.
    const { clock, backend, calls } = slowTools(geometry, { load, read: 10, register: 4 });
    const sink = new MemorySink();
    const stats = await new Dumper(backend, sink, {
      geometry,
      period: 100,
      duration: 3000,
      fixedPeriod: true,
      clock,
      warmUp: false,
      overrun: "gap",
    }).run();
    return { stats, calls, data: sink.bytes() };
  };
  for (const load of [0.95, 0.9]) {
    const { stats, calls, data } = await run(load);
    assert.equal(stats.lostPages, 0, `${load}: ${JSON.stringify(stats)}`);
    assert.ok(checkCounter(data).ok);
    // The first poll (after the baseline): a counter read, its pages and
    // their check, which finds the ring more than half full, so it reads on
    // up to that check. Every poll after it starts with a head start: no
    // counter read before its first reads, each batch checked right after it.
    assert.equal(stats.headStarts, stats.periods - 1, JSON.stringify(stats));
    assert.equal(stats.tornReads, 0);
    const polls = calls.slice(1).join(" ");
    assert.match(polls, /^C R\d+\+C R\d+\+C( R\d+\+C R\d+\+C)+$/, polls.slice(0, 200));
    // As many counter reads as plain polls (a reading and a check each),
    // and the first poll's check after reading on.
    assert.equal(stats.counterReads, 1 + 2 * stats.periods + 1, JSON.stringify(stats));
  }
  // Below half a ring at a check: plain polls, as the reference makes them.
  const slow = await run(0.3);
  assert.equal(slow.stats.headStarts, 0);
  assert.equal(slow.stats.lostPages, 0);
  assert.match(slow.calls.join(" "), /^C( C R\d+\+C)+$/);
});

Deno.test("dumper: a head start (property): slow tools, the fixed beat or adaptive polling, any rate up to 1.3 ring/period: the output is the device's stream exactly, or a detected overrun or torn read with every byte before it correct", async () => {
  let clean = 0, stopped = 0, headStarts = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 16, max: 400 }),
      fc.double({ min: 0.2, max: 1.3, noNaN: true }),
      fc.double({ min: 0, max: 20, noNaN: true }),
      fc.double({ min: 0, max: 8, noNaN: true }),
      fc.boolean(),
      async (pages, load, read, register, fixedPeriod) => {
        const geometry = ringGeometry({ base: 0n, pageSize: 64, pages });
        const { clock, backend } = slowTools(geometry, { load, read, register });
        const sink = new MemorySink();
        const dumper = new Dumper(backend, sink, {
          geometry,
          period: 100,
          duration: 1500,
          fixedPeriod,
          clock,
          warmUp: false,
        });
        try {
          const stats = await dumper.run();
          clean++;
          assert.equal(stats.lostPages, 0);
          assert.equal(sink.bytes().length, stats.pages * 64);
        } catch (e) {
          if (!(e instanceof OverrunError)) throw e; // a TornReadError is one
          stopped++;
          assert.equal(sink.bytes().length, e.capturedPages * 64);
        }
        headStarts += dumper.stats.headStarts;
        const data = sink.bytes();
        if (data.length > 0) {
          const c = checkCounter(data);
          assert.ok(c.ok, `not contiguous at ${c.badAt}`);
          assert.equal(c.firstOffset, BigInt(dumper.stats.firstPage * 64));
        }
      },
    ),
    { numRuns: 120, seed: 2412 },
  );
  assert.ok(clean > 20 && stopped > 5 && headStarts > 100, `${clean} ${stopped} ${headStarts}`);
});

Deno.test("dumper: ramped checks read a poll's oldest pages alone, checked at once, then twice as many each time; batched checks or a slow counter read turn them off", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 1024 });
  const run = async (latency: number, rampBytes?: number, checkBatchBytes?: number) => {
    const clock = new VirtualClock();
    // 1000 pages by the fixed beat's first poll, half a period after the baseline.
    const sim = openSim(geometry, { pattern: "counter", rate: 1000 * 4096 * 20, clock });
    const calls: string[] = [];
    const spy: Backend = {
      name: "spy",
      readRegister: async (a, w) => {
        clock.advance(latency);
        calls.push("C");
        return await sim.readRegister(a, w);
      },
      read: async (a, d) => {
        calls.push(String(d.length / 4096));
        return await sim.read(a, d);
      },
      close: () => sim.close(),
    };
    const sink = new MemorySink();
    const stats = await new Dumper(spy, sink, {
      geometry,
      period: 100,
      duration: 50, // that poll is the last
      fixedPeriod: true,
      clock,
      warmUp: false,
      rampBytes,
      checkBatchBytes,
    }).run();
    const r = checkCounter(sink.bytes());
    assert.ok(r.ok);
    assert.equal(stats.lostPages, 0);
    return calls.join(" ");
  };
  // Baseline, then the poll at 50 ms, the last: 1000 pages.
  const fast = (await run(0)).split(" ");
  assert.deepEqual(fast.slice(0, 14), [
    "C",
    "C",
    "16",
    "C",
    "32",
    "C",
    "64",
    "C",
    "128",
    "C",
    "256",
    "C",
    "504",
    "C",
  ]);
  assert.equal(fast.filter((c) => c !== "C").reduce((a, c) => a + Number(c), 0), 1000);
  // Off: one read of the poll's pages, one check.
  assert.deepEqual((await run(0, 0)).split(" ").slice(0, 4), ["C", "C", "1000", "C"]);
  // Checks batched (a backend whose check is a process): no ramp unless asked for.
  assert.deepEqual((await run(0, undefined, 4 << 20)).split(" ").slice(0, 4), [
    "C",
    "C",
    "1000",
    "C",
  ]);
  assert.equal((await run(0, 64 << 10, 4 << 20)).split(" ")[2], "16");
  // A counter read of 1 ms: 6 more of them would be 6% of the period: no ramp.
  const slow = (await run(1)).split(" ");
  assert.deepEqual([slow[0], slow[1], slow[3]], ["C", "C", "C"]);
  assert.ok(Number(slow[2]) >= 990, slow.join(" ")); // the poll's pages in one read
});

Deno.test("dumper: the warm-up reads the ring once before the baseline; its failure ends the capture before it", async () => {
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 8 });
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 100 * 64, clock });
  const calls: string[] = [];
  let failReads = 1;
  const backend: Backend = {
    name: "spy",
    readRegister: (a, w) => {
      calls.push("counter");
      return sim.readRegister(a, w);
    },
    read: (a, d) => {
      calls.push(`read ${d.length}`);
      if (failReads-- > 0) return Promise.reject(new Error("no such memory"));
      return sim.read(a, d);
    },
    close: () => sim.close(),
  };
  const sink = new MemorySink();
  const err = await new Dumper(backend, sink, { geometry, period: 10, duration: 50, clock }).run()
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof BackendError, String(err));
  assert.match(err.message, /reading 512 bytes at 0x0 failed: no such memory/);
  assert.deepEqual(calls, ["counter", "read 512"]); // the counter checked first; no baseline
  assert.equal(sink.bytes().length, 0);

  calls.length = 0;
  const stats = await new Dumper(backend, sink, { geometry, period: 10, duration: 50, clock })
    .run();
  assert.deepEqual(calls.slice(0, 3), ["counter", "read 512", "counter"]);
  assert.equal(stats.reads, calls.filter((c) => c.startsWith("read")).length - 1);
  const c = checkCounter(sink.bytes());
  assert.ok(c.ok);
  assert.equal(c.firstOffset, BigInt(stats.firstPage * 64)); // from the baseline on, nothing before
});

Deno.test("dumper, pipelined batches: each batch is judged by the counter read right after its own reads, not an earlier one (a writer that laps the last batch of a poll, in flight)", async () => {
  // 16 pages of 64 bytes; the poll sees 15 new pages and sends 4 batches of
  // 4 pages at once (pipelineBytes). The writer stands still during the first
  // three, then bursts 15 pages: the last batch's pages were overwritten
  // while it was read, and only the counter after it (31) says so. Judged by
  // the first batch's counter (15), its stale bytes would be appended.
  const geometry = ringGeometry({ base: 0n, pageSize: 64, pages: 16, counterWrap: 256 });
  const registers = [0n, 15n]; // the baseline, the poll
  const afterBatch = [15n, 15n, 16n, 31n];
  let call = 0;
  const backend: Backend = {
    name: "lapping",
    readRegister: () => Promise.resolve(registers.shift() ?? 31n),
    read: () => Promise.reject(new Error("every read goes through readThenRegister here")),
    close: () => Promise.resolve(),
    checkBatchBytes: 4 * 64,
    pipelineBytes: 16 * 64,
    readThenRegister: (reads) => {
      const k = call++;
      for (const r of reads) {
        const slot = Number(r.address / 64n);
        for (let i = 0; i < r.dest.length / 64; i++) {
          // Logical page slot + i, or (last batch) the page a lap later that overwrote it.
          const page = slot + i + (k === 3 ? 16 : 0);
          fillCounter(r.dest.subarray(i * 64, (i + 1) * 64), page * 64);
        }
      }
      return Promise.resolve(afterBatch[k] ?? 31n);
    },
  };
  const clock = new VirtualClock();
  const sink = new MemorySink();
  await assert.rejects(
    new Dumper(backend, sink, {
      geometry,
      period: 100,
      duration: 100,
      fixedPeriod: true,
      clock,
      warmUp: false,
    }).run(),
    (e: unknown) =>
      e instanceof TornReadError && e.firstPage === 12 && e.capturedPages === 12 &&
      e.counterAfter === 31,
  );
  assert.equal(call, 4);
  const data = sink.bytes();
  assert.equal(data.length, 12 * 64);
  const r = checkCounter(data);
  assert.ok(r.ok && r.firstOffset === 0n);
});
