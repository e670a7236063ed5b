import assert from "node:assert/strict";
import fc from "fast-check";
import { nextPoll, type PollState, RateMeter, reuseReading } from "../lib/schedule.ts";
import { Dumper } from "../lib/dumper.ts";
import type { DumpStats } from "../lib/dumper_options.ts";
import { ringGeometry } from "../lib/ring.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { type Clock, VirtualClock } from "../lib/clock.ts";
import { openSim } from "../backends/sim.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { DeviceError, OverrunError, TornReadError } from "../lib/errors.ts";

const base: PollState = {
  period: 100,
  minPeriod: 5,
  pages: 1000,
  pollStart: 1000,
  readAt: 1002,
  backlog: 0,
  rate: 0,
};

Deno.test("nextPoll: unknown or slow rate waits the whole period; a fast one polls at half full; clamped to [minPeriod, period]", () => {
  assert.equal(nextPoll(base), 1100);
  assert.equal(nextPoll({ ...base, rate: NaN }), 1100);
  assert.equal(nextPoll({ ...base, rate: 5 }), 1100); // half full in 100 ms: the period itself
  assert.equal(nextPoll({ ...base, rate: 1 }), 1100);
  assert.equal(nextPoll({ ...base, rate: 10 }), 1052); // 500 pages at 10/ms from readAt
  assert.equal(nextPoll({ ...base, rate: 10, backlog: 200 }), 1032);
  assert.equal(nextPoll({ ...base, rate: 1000 }), 1005); // never sooner than minPeriod
  assert.equal(nextPoll({ ...base, rate: 10, backlog: 900 }), 1005); // behind already: at once
  assert.equal(nextPoll({ ...base, rate: 10, target: 0.25 }), 1027);
  assert.equal(nextPoll({ ...base, minPeriod: 500, rate: 1000 }), 1100); // minPeriod above period
  // No rate (idle, stalled): the wait doubles from the previous interval, up to the period.
  assert.equal(nextPoll({ ...base, previous: 5 }), 1010);
  assert.equal(nextPoll({ ...base, previous: 2 }), 1005);
  assert.equal(nextPoll({ ...base, previous: 80 }), 1100);
  // A poll that takes 20 ms (its check comes 20 ms after it starts): 20 ms sooner.
  assert.equal(nextPoll({ ...base, rate: 10, pollCost: 20 }), 1032);
  assert.equal(nextPoll({ ...base, rate: 10, pollCost: 100 }), 1005);
});

Deno.test("nextPoll (property): within [pollStart + minPeriod, pollStart + period], earlier for a faster writer, a larger backlog or a costlier poll; unclamped, half full at the poll's check", () => {
  const state = fc.record({
    period: fc.integer({ min: 1, max: 10_000 }),
    minPeriod: fc.integer({ min: 1, max: 10_000 }),
    pages: fc.integer({ min: 1, max: 1 << 20 }),
    pollStart: fc.integer({ min: 0, max: 1e9 }),
    lag: fc.integer({ min: 0, max: 1000 }),
    backlog: fc.integer({ min: 0, max: 1 << 21 }),
    rate: fc.double({ min: 0, max: 1e4, noNaN: true }),
    more: fc.double({ min: 1, max: 100, noNaN: true }),
    extra: fc.integer({ min: 0, max: 1 << 20 }),
    pollCost: fc.double({ min: 0, max: 1000, noNaN: true }),
  });
  fc.assert(
    fc.property(state, (s) => {
      const st: PollState = { ...s, readAt: s.pollStart + s.lag };
      const t = nextPoll(st);
      assert.ok(t >= s.pollStart + Math.min(s.minPeriod, s.period) - 1e-6, `${t}`);
      assert.ok(t <= s.pollStart + s.period + 1e-6, `${t}`);
      assert.ok(nextPoll({ ...st, rate: s.rate * s.more }) <= t + 1e-6);
      assert.ok(nextPoll({ ...st, backlog: s.backlog + s.extra }) <= t + 1e-6);
      // A costlier poll comes no later; unclamped, the ring is `target` full at its check.
      assert.ok(nextPoll({ ...st, pollCost: s.pollCost + s.more }) <= t + 1e-6);
      const earliest = s.pollStart + Math.min(s.minPeriod, s.period);
      const room = 0.5 * s.pages - s.backlog - s.rate * s.pollCost;
      if (s.rate > 0 && room > 0 && t > earliest + 1e-6 && t < s.pollStart + s.period - 1e-6) {
        const fill = s.backlog + s.rate * (t + s.pollCost - st.readAt);
        // t is a clock time (up to 1e9 ms here): its rounding, times the rate,
        // is part of the fill's error (pages 1, rate 3440/ms, t 4.2e6: 3e-6).
        const rounding = s.rate * (Math.abs(t) + s.pollCost) * 8 * Number.EPSILON;
        const tolerance = 1e-6 * Math.max(1, s.pages) + rounding;
        assert.ok(Math.abs(fill - 0.5 * s.pages) <= tolerance, `${fill} ${t}`);
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("reuseReading: only a poll due before a fresh counter read could finish, never an empty backlog", () => {
  assert.equal(reuseReading({ at: 100, readAt: 100, readCost: 0, backlog: 1 }), true);
  assert.equal(reuseReading({ at: 104, readAt: 100, readCost: 5, backlog: 10 }), true);
  assert.equal(reuseReading({ at: 105.5, readAt: 100, readCost: 5, backlog: 10 }), false);
  assert.equal(reuseReading({ at: 100.01, readAt: 100, readCost: 0, backlog: 10 }), false);
  assert.equal(reuseReading({ at: 90, readAt: 100, readCost: -1, backlog: 10 }), true);
  assert.equal(reuseReading({ at: 90, readAt: 100, readCost: 5, backlog: 0 }), false);
});

Deno.test("RateMeter: a burst is seen at once; a stall decays to nothing", () => {
  const m = new RateMeter();
  assert.equal(m.rate, 0);
  m.see(0, 0);
  m.see(100, 100);
  assert.equal(m.rate, 1);
  m.see(110, 200); // 10 pages/ms now
  assert.equal(m.rate, 10);
  for (let t = 210; t < 5000; t += 100) m.see(t, 200); // stalled
  assert.ok(m.rate < 1e-6, `${m.rate}`);
  m.see(5000, 200); // same time again: ignored, no division by zero
  assert.ok(Number.isFinite(m.rate));
});

Deno.test("RateMeter: the average decays with time, not per reading: close readings with nothing new (a counter published in steps) barely lower it; a writer not started yet does not count", () => {
  const m = new RateMeter({ halfLife: 25 });
  m.see(0, 0);
  m.see(5, 0); // nothing yet: the writer has not started
  m.see(15, 100);
  assert.equal(m.rate, 10);
  m.see(16, 100); // 1 ms with nothing new: nearly 10 still
  assert.ok(m.rate > 9.7, `${m.rate}`);
  m.see(20, 100); // 5 ms in all: a step, not a stall
  assert.ok(m.rate > 8.5, `${m.rate}`);
  m.see(45, 100); // 25 more ms, still nothing: about half as fast
  assert.ok(m.rate > 4 && m.rate < 5, `${m.rate}`);
  // The same readings with the half-life of a period of 400 ms: slower to forget.
  const slow = new RateMeter({ halfLife: 100 });
  for (const [t, p] of [[0, 0], [5, 0], [15, 100], [16, 100], [20, 100], [45, 100]]) slow.see(t, p);
  assert.ok(slow.rate > m.rate, `${slow.rate}`);
  // A bad half-life falls back to the default rather than poisoning the rate.
  const bad = new RateMeter({ halfLife: 0 });
  bad.see(0, 0);
  bad.see(10, 100);
  bad.see(11, 100);
  assert.ok(bad.rate > 9 && Number.isFinite(bad.rate), `${bad.rate}`);
});

/** A writer schedule's segment: `ms` of virtual time at `speed` (0 a stall, above 1 a burst). */
const segment = fc.record({
  ms: fc.integer({ min: 1, max: 400 }),
  speed: fc.oneof(
    fc.constant(0),
    fc.double({ min: 0.05, max: 1, noNaN: true }),
    fc.double({ min: 1, max: 6, noNaN: true }),
  ),
});

/**
 * A clock for the device whose time runs at a schedule's speeds: slope 0 is
 * a stall, above 1 a burst. The dumper keeps the plain virtual clock.
 */
function warped(
  clock: VirtualClock,
  segments: { ms: number; speed: number }[],
): Clock & { advance(ms: number): void } {
  const at = (t: number): number => {
    let dev = 0, left = t;
    for (const s of segments) {
      const d = Math.min(left, s.ms);
      dev += d * s.speed;
      left -= d;
      if (left <= 0) return dev;
    }
    return dev + left; // after the schedule: speed 1
  };
  return {
    now: () => at(clock.now()),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    // (the sim's read latency advances the dumper's clock through this)
    advance: (ms: number) => clock.advance(ms),
  };
}

interface Run {
  stats?: DumpStats;
  error?: unknown;
  data: Uint8Array;
}

async function capture(options: {
  pages: number;
  /** Writer rate as a multiple of ring / period. */
  load: number;
  segments?: { ms: number; speed: number }[];
  fixedPeriod?: boolean;
  period?: number;
  duration?: number;
  /** Virtual ms each backend read takes (the writer runs meanwhile). */
  latency?: number;
  /** Virtual ms each counter read takes. */
  registerLatency?: number;
  /** One counter check per this many bytes of reads (as pixeldump and ssh ask). */
  checkBatchBytes?: number;
  /** Pages per write of the device: its counter moves in steps of this many. */
  burst?: number;
}): Promise<Run> {
  const period = options.period ?? 100;
  const geometry = ringGeometry({
    base: 0n,
    pageSize: 64,
    pages: options.pages,
    counterWrap: options.pages * 64,
  });
  const clock = new VirtualClock();
  const devClock = options.segments ? warped(clock, options.segments) : clock;
  const pagesPerMs = (options.load * options.pages) / period;
  const sim = openSim(geometry, {
    pattern: "counter",
    rate: pagesPerMs * 1000 * 64,
    clock: devClock,
    latency: options.latency,
    registerLatency: options.registerLatency,
    burst: options.burst,
  });
  const sink = new MemorySink();
  const dumper = new Dumper(sim, sink, {
    geometry,
    period,
    duration: options.duration ?? 3000,
    clock,
    fixedPeriod: options.fixedPeriod,
    checkBatchBytes: options.checkBatchBytes,
    warmUp: false, // the stream starts at t=0 (a warm-up read takes virtual time)
  });
  try {
    return { stats: await dumper.run(), data: sink.bytes() };
  } catch (error) {
    return { error, data: sink.bytes() };
  }
}

Deno.test("adaptive polling: at 3x ring/period the fixed beat overruns, the adaptive one loses nothing", async () => {
  const fixed = await capture({ pages: 100, load: 3, fixedPeriod: true });
  assert.ok(fixed.error instanceof OverrunError, String(fixed.error));
  const adaptive = await capture({ pages: 100, load: 3 });
  assert.equal(adaptive.error, undefined, String(adaptive.error));
  const s = adaptive.stats!;
  assert.equal(s.lostPages, 0);
  assert.ok(s.adaptive);
  assert.ok(checkCounter(adaptive.data).ok);
  // Half a ring at 3 rings per period: about every period / 6.
  assert.ok(
    s.shortestIntervalMs >= 5 && s.shortestIntervalMs <= 100 / 6 + 1,
    `${s.shortestIntervalMs}`,
  );
  assert.ok(s.periods > 3000 / 100 * 4, `${s.periods} periods`);
});

Deno.test("adaptive polling (property): a steady writer below half a ring per period is polled exactly on the reference's beat; up to 8x ring/period nothing is lost", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 20, max: 400 }),
      fc.double({ min: 0.01, max: 0.4, noNaN: true }),
      fc.double({ min: 0.5, max: 8, noNaN: true }),
      async (pages, slow, fast) => {
        const a = await capture({ pages, load: slow, duration: 2000 });
        const f = await capture({ pages, load: slow, duration: 2000, fixedPeriod: true });
        assert.equal(a.error, undefined);
        // A few early polls (minPeriod, doubling) until the counter first moves,
        // then the reference's beat: no extra polls after that.
        const early = Math.ceil(Math.log2(100 / 5)) + 1;
        assert.ok(a.stats!.periods <= f.stats!.periods + early, `${a.stats!.periods}`);
        assert.ok(a.stats!.periods >= f.stats!.periods, `${a.stats!.periods}`);
        const q = await capture({ pages, load: fast, duration: 2000 });
        assert.equal(q.error, undefined, `load ${fast}: ${q.error}`);
        assert.equal(q.stats!.lostPages, 0);
        assert.ok(q.stats!.shortestIntervalMs >= 5 - 1e-9, `${q.stats!.shortestIntervalMs}`);
        assert.ok(checkCounter(q.data).ok);
      },
    ),
    { numRuns: 40, seed: 13 },
  );
});

Deno.test("adaptive polling (property): random writer schedules with bursts and stalls: the output is the device's stream exactly, or an overrun with every byte before it correct; polls stay within [minPeriod, period]", async () => {
  let clean = 0, overruns = 0, refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 8, max: 200 }),
      fc.double({ min: 0.1, max: 3, noNaN: true }),
      fc.array(segment, { minLength: 1, maxLength: 12 }),
      async (pages, load, segments) => {
        const r = await capture({ pages, load, segments, duration: 2000 });
        if (r.error instanceof DeviceError) {
          // A burst of more than a ring right after a stall: docs/design.md's
          // counter judgement does not believe it (a device fault), and stops.
          refused++;
        } else if (r.error !== undefined) {
          if (!(r.error instanceof OverrunError)) throw r.error;
          overruns++;
          assert.equal(r.data.length, r.error.capturedPages * 64);
        } else {
          clean++;
          assert.equal(r.stats!.lostPages, 0);
          const s = r.stats!;
          if (s.shortestIntervalMs > 0) assert.ok(s.shortestIntervalMs >= 5 - 1e-9);
          assert.ok(s.shortestIntervalMs <= 100 + 1e-9);
        }
        if (r.data.length > 0) {
          const c = checkCounter(r.data);
          assert.ok(c.ok, `not contiguous at ${c.badAt}`);
          assert.equal(c.firstOffset, 0n);
        }
      },
    ),
    { numRuns: 150, seed: 2026 },
  );
  assert.ok(clean > 20 && overruns > 5, `clean ${clean} overruns ${overruns} refused ${refused}`);
});

Deno.test("adaptive polling: a writer that pauses a few ms between runs (a counter published in steps) at 5-6x ring/period loses nothing; the worst fill at a check stays near half", async () => {
  // With an average that lost half its weight at every reading, one poll that
  // fell in a pause halved the rate and the next came twice too late: at 6x
  // with runs of 6 ms and pauses of 4 ms it overran, elsewhere it let the
  // ring fill to 0.86-0.91 at a check.
  for (const load of [5, 6]) {
    for (const [on, off] of [[4, 2], [5, 3], [6, 4], [8, 4], [10, 5]]) {
      const segments: { ms: number; speed: number }[] = [];
      for (let t = 0; t < 3000; t += on + off) {
        segments.push({ ms: on, speed: (on + off) / on }, { ms: off, speed: 0 });
      }
      const r = await capture({ pages: 200, load, segments, duration: 3000 });
      const what = `load ${load}, ${on} ms on, ${off} off`;
      assert.equal(r.error, undefined, `${what}: ${r.error}`);
      assert.equal(r.stats!.lostPages, 0, what);
      assert.ok(r.stats!.headroom < 0.8, `${what}: ${r.stats!.headroom}`);
      assert.ok(checkCounter(r.data).ok, what);
    }
  }
});

Deno.test("adaptive polling: with counter reads that take time (a process each), a poll due at once takes the last check's reading; every read is still checked by a counter read after it, and the lossless rate rises", async () => {
  // 5 virtual ms per read and per counter read, one check per poll (as
  // pixeldump): at 3 rings per period a fresh counter read in every poll
  // costs too much (a torn read, the writer wins); taking the check's
  // reading when the next poll is due at once keeps up.
  const opts = { pages: 200, latency: 5, registerLatency: 5, checkBatchBytes: 200 * 64 };
  const r = await capture({ ...opts, load: 3, duration: 2000 });
  assert.equal(r.error, undefined, String(r.error));
  const s = r.stats!;
  assert.equal(s.lostPages, 0);
  assert.ok(checkCounter(r.data).ok);
  assert.ok(s.reusedReadings > s.periods / 4, `${s.reusedReadings} of ${s.periods} polls`);
  // The baseline, a reading per poll that did not reuse one, one check per poll that read.
  assert.equal(
    s.counterReads,
    1 + (s.periods - s.reusedReadings) + (s.periods - s.emptyPeriods),
    JSON.stringify(s),
  );
  // At a slow rate nothing is reused: every poll reads the counter afresh.
  const slow = await capture({ ...opts, load: 0.3, duration: 2000 });
  assert.equal(slow.error, undefined);
  assert.equal(slow.stats!.reusedReadings, 0);
  // The fixed beat never reuses.
  const fixed = await capture({ ...opts, load: 0.8, duration: 2000, fixedPeriod: true });
  assert.equal(fixed.error, undefined);
  assert.equal(fixed.stats!.reusedReadings, 0);
  // With counter reads that take no time, a poll is overdue only at the edge.
  const free = await capture({ ...opts, registerLatency: 0, load: 2, duration: 2000 });
  assert.equal(free.error, undefined);
  assert.ok(free.stats!.reusedReadings < free.stats!.periods / 10, JSON.stringify(free.stats));
});

Deno.test("adaptive polling aims at half full at a poll's check, not its start: with 15 ms reads and 20 ms counter reads (as the pixeldump emulators) the worst fill at a check stays near half", async () => {
  const opts = { pages: 200, latency: 15, registerLatency: 20, checkBatchBytes: 200 * 64 };
  for (const load of [0.5, 0.6, 0.7]) {
    const r = await capture({ ...opts, load, duration: 3000 });
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.stats!.lostPages, 0);
    // Aimed at the poll's start, the check saw 0.75, 0.81 and 0.85 of the ring.
    assert.ok(r.stats!.headroom < load + 0.1, `${load}: ${r.stats!.headroom}`);
  }
});

Deno.test("adaptive polling (property): reads and counter reads that take time, random writer schedules: the output is the device's stream exactly, or a detected overrun or torn read with every byte before it correct", async () => {
  let clean = 0, reused = 0, stopped = 0;
  const double = (min: number, max: number) => fc.double({ min, max, noNaN: true });
  const config = fc.oneof(
    // Anything: any rate, read and counter read times, checks, bursts and stalls.
    fc.record({
      pages: fc.integer({ min: 8, max: 200 }),
      load: double(0.1, 4),
      latency: double(0, 10),
      registerLatency: double(0, 10),
      batched: fc.boolean(),
      segments: fc.option(fc.array(segment, { minLength: 1, maxLength: 8 }), { nil: undefined }),
    }),
    // A steady writer near what a backend with slow counter reads keeps up
    // with, one check per poll (as pixeldump): polls come back to back.
    fc.record({
      pages: fc.integer({ min: 8, max: 200 }),
      load: double(2.5, 3.5),
      latency: double(0, 6),
      registerLatency: double(2, 10),
      batched: fc.constant(true),
      segments: fc.constant(undefined),
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      config,
      async ({ pages, load, latency, registerLatency, batched, segments }) => {
        const r = await capture({
          pages,
          load,
          latency,
          registerLatency,
          checkBatchBytes: batched ? pages * 64 : undefined,
          segments,
          duration: 2000,
        });
        if (r.error !== undefined) {
          if (r.error instanceof OverrunError || r.error instanceof TornReadError) {
            assert.equal(r.data.length, r.error.capturedPages * 64);
          } else if (!(r.error instanceof DeviceError)) throw r.error;
          stopped++;
        } else {
          clean++;
          assert.equal(r.stats!.lostPages, 0);
          if (r.stats!.reusedReadings > 0) reused++;
        }
        if (r.data.length > 0) {
          const c = checkCounter(r.data);
          assert.ok(c.ok, `not contiguous at ${c.badAt}`);
          // From the baseline on (docs/design.md rule 6): a counter read that
          // takes time may find the writer a page or two in already.
          if (r.stats) assert.equal(c.firstOffset, BigInt(r.stats.firstPage * 64));
          else {
            const early = Math.ceil(registerLatency * load * pages / 100) + 1;
            assert.ok(c.firstOffset <= 64n * BigInt(early), `${c.firstOffset}`);
          }
        }
      },
    ),
    { numRuns: 150, seed: 2027 },
  );
  assert.ok(
    clean > 20 && reused > 10 && stopped > 5,
    `clean ${clean} reused ${reused} stopped ${stopped}`,
  );
});
