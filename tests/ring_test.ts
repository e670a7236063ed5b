import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkAppendOrder,
  counterDelta,
  firstIntactPage,
  judgeCounter,
  MAX_COUNTER_WRAP,
  ringGeometry,
  ringIndex,
  splitRange,
  unwrapCounter,
} from "../lib/ring.ts";
import { GeometryError, InternalError } from "../lib/errors.ts";

Deno.test("counterDelta: the reference's own example", () => {
  assert.equal(counterDelta(0x1f000, 0x0010, { counterWrap: 0x10000 }), 0x1010);
  assert.equal(unwrapCounter(0x1f000, 0x0010, { counterWrap: 0x10000 }), 0x1f000 + 0x1010);
});

Deno.test("counterDelta: no progress, one step, wrap boundary", () => {
  const w = { counterWrap: 0x10000 };
  assert.equal(counterDelta(5, 5, w), 0);
  assert.equal(counterDelta(5, 6, w), 1);
  assert.equal(counterDelta(0xffff, 0, w), 1);
  assert.equal(counterDelta(0x1ffff, 0xfffe, w), 0xffff);
});

Deno.test("counterDelta: counts near 2^32 and 2^53", () => {
  const w32 = { counterWrap: 2 ** 32 };
  assert.equal(counterDelta(2 ** 32 - 3, 4, w32), 7);
  const big = 2 ** 53 - 100; // logical counts stay exact up to 2^53
  const phys = (big % 2 ** 32) + 50;
  assert.equal(unwrapCounter(big, phys, w32), big + 50);
  // a wrap that is not a power of two, near 2^53
  const w = { counterWrap: 1_000_003 };
  const last = 2 ** 53 - 2_000_000;
  const next = last + 999_999;
  assert.equal(unwrapCounter(last, next % w.counterWrap, w), next);
});

Deno.test("unwrapCounter inverts the register for every delta below the wrap (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 2 ** 32 }),
      fc.integer({ min: 0, max: 2 ** 52 }),
      fc.nat(),
      (wrap, last, d) => {
        const delta = d % wrap;
        const phys = (last + delta) % wrap;
        assert.equal(counterDelta(last, phys, { counterWrap: wrap }), delta);
      },
    ),
    { numRuns: 2000, seed: 42 },
  );
});

Deno.test("ringIndex is logical % pages", () => {
  assert.equal(ringIndex(0, 7), 0);
  assert.equal(ringIndex(300, 256), 44);
  assert.equal(ringIndex(2 ** 53 - 1, 1000), (2 ** 53 - 1) % 1000);
});

Deno.test("splitRange: within the ring, at its end, empty", () => {
  const g = ringGeometry({ base: 0x1000n, pageSize: 16, pages: 8 });
  assert.deepEqual(splitRange(g, { from: 3, to: 3 }), []);
  const one = splitRange(g, { from: 9, to: 12 });
  assert.equal(one.length, 1);
  assert.deepEqual(
    { address: one[0].address, index: one[0].index, pages: one[0].pages, bytes: one[0].bytes },
    { address: 0x1000n + 16n, index: 1, pages: 3, bytes: 48 },
  );
  const two = splitRange(g, { from: 6, to: 10 });
  assert.deepEqual(two.map((s) => [s.index, s.firstPage, s.pages]), [[6, 6, 2], [0, 8, 2]]);
  assert.equal(two[1].address, 0x1000n);
});

Deno.test("splitRange: a full lap is two reads covering the whole ring from the start index", () => {
  const g = ringGeometry({ base: 0n, pageSize: 4096, pages: 8 });
  const spans = splitRange(g, { from: 13, to: 21 });
  assert.deepEqual(spans.map((s) => [s.index, s.firstPage, s.pages]), [[5, 13, 3], [0, 16, 5]]);
  const aligned = splitRange(g, { from: 16, to: 24 });
  assert.deepEqual(aligned.map((s) => [s.index, s.pages]), [[0, 8]]);
  assert.throws(() => splitRange(g, { from: 0, to: 9 }), RangeError);
});

Deno.test("splitRange covers [from, to) exactly, in order, at most two reads (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.nat(),
      (pages, from, n0) => {
        const g = ringGeometry({ base: 0x100n, pageSize: 8, pages, counterWrap: pages + 1 });
        const n = n0 % (pages + 1);
        const spans = splitRange(g, { from, to: from + n });
        assert.ok(spans.length <= 2);
        let next = from;
        for (const s of spans) {
          assert.equal(s.firstPage, next);
          assert.equal(s.index, next % pages);
          assert.ok(s.index + s.pages <= pages);
          assert.equal(s.address, 0x100n + BigInt(s.index * 8));
          next += s.pages;
        }
        assert.equal(next, from + n);
      },
    ),
    { numRuns: 3000, seed: 7 },
  );
});

Deno.test("firstIntactPage: pages more than a ring behind the writer are torn", () => {
  assert.equal(firstIntactPage(300, { pages: 256 }), 44);
  // Pages the hardware may be writing beyond its counter put as many more at risk.
  assert.equal(firstIntactPage(300, { pages: 256, inFlight: 0 }), 44);
  assert.equal(firstIntactPage(300, { pages: 256, inFlight: 1 }), 45);
  assert.equal(firstIntactPage(300, { pages: 256, inFlight: 8 }), 52);
});

Deno.test("ringGeometry: defaults and validation", () => {
  const g = ringGeometry({ base: 0x3000_0000n, pageSize: 4096, pages: 256 });
  assert.equal(g.counterWrap, 0x10000);
  assert.equal(g.ringBytes, 1 << 20);
  assert.equal(g.counterAddress, 0x3000_0000n + (1n << 20n));
  for (
    const bad of [
      { pageSize: 0 },
      { pageSize: -4 },
      { pageSize: 1.5 },
      { pages: 0 },
      { pages: -1 },
      { counterWrap: 256 },
      { counterWrap: 100 },
      { counterWrap: MAX_COUNTER_WRAP + 1 },
      { counterAddress: 0x3000_0010n },
      { base: -1 },
    ]
  ) {
    assert.throws(
      () => ringGeometry({ base: 0x3000_0000n, pageSize: 4096, pages: 256, ...bad }),
      GeometryError,
      JSON.stringify(bad, (_k, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
  assert.throws(
    () => ringGeometry({ base: 0n, pageSize: 4096, pages: 256, counterWrap: 256 }),
    /must exceed the ring's page count 256, or a full lap could not be told from no progress/,
  );
});

Deno.test("judgeCounter: a small advance is believed, a jump larger than the ring needs a second read", () => {
  const g = { pages: 16, counterWrap: 0x1000 };
  const at = (readings: number[], expected?: number, next = 100, latest = 100) =>
    judgeCounter({ latest, next, readings, expected }, g);
  assert.deepEqual(at([105], 5), { kind: "advance", delta: 5, glitch: false });
  assert.deepEqual(at([116], 5), { kind: "advance", delta: 16, glitch: false });
  // 30 behind or far ahead: not believed on one read
  assert.deepEqual(at([70], 5), { kind: "confirm" });
  assert.deepEqual(at([300], 5), { kind: "confirm" });
  // the second read contradicts the first: a glitch, the second is the truth
  assert.deepEqual(at([70, 106], 5), { kind: "advance", delta: 6, glitch: true });
  // a real overrun, confirmed and plausible for the time elapsed
  assert.deepEqual(at([130, 131], 30), { kind: "advance", delta: 31, glitch: false });
  // no rate known yet: a confirmed jump is believed
  assert.deepEqual(at([300, 301]), { kind: "advance", delta: 201, glitch: false });
  // confirmed 30 behind where 5 pages were expected: implausible as a jump of a wrap
  const v = at([70, 70], 5);
  assert.equal(v.kind, "implausible");
  // 10 behind a value believed before, but not behind the pages taken: the
  // value before was 10 too high
  assert.deepEqual(at([100, 100], 0.5, 95, 110), { kind: "back", back: 10 });
  // two readings far apart
  assert.equal(at([300, 900], 5).kind, "implausible");
  assert.throws(() => at([]), RangeError);
});

Deno.test("judgeCounter: time enough for a whole wrap at the rate seen is a wrap, even when the counter looks close", () => {
  const g = { pages: 16, counterWrap: 0x100 };
  // 4 pages further after time for 260 at the rate seen
  const v = judgeCounter({
    latest: 1000,
    next: 1000,
    readings: [(1000 + 4) % 0x100],
    expected: 260,
  }, g);
  assert.deepEqual(v, { kind: "confirm" });
  const w = judgeCounter({
    latest: 1000,
    next: 1000,
    readings: [(1004) % 0x100, 1005 % 0x100],
    expected: 260,
  }, g);
  assert.deepEqual(w, { kind: "wrapped", delta: 5 + 0x100, wraps: 1 });
  // an honest writer at a steady rate never looks wrapped (property)
  fc.assert(fc.property(
    fc.integer({ min: 17, max: 5000 }),
    fc.integer({ min: 0, max: 1e6 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    (wrap, latest, f) => {
      const honest = Math.floor(f * Math.min(16, wrap - 1));
      const r = judgeCounter({
        latest,
        next: latest,
        readings: [(latest + honest) % wrap],
        expected: honest,
      }, { pages: 16, counterWrap: wrap });
      assert.deepEqual(r, { kind: "advance", delta: honest, glitch: false });
    },
  ));
});

Deno.test("checkAppendOrder: appended logical pages strictly increase", () => {
  checkAppendOrder(10, 10);
  checkAppendOrder(10, 11);
  assert.throws(() => checkAppendOrder(10, 9), InternalError);
  assert.throws(() => checkAppendOrder(10, 0), /pages must strictly increase/);
});
