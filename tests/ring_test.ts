import assert from "node:assert/strict";
import fc from "fast-check";
import {
  counterDelta,
  firstIntactPage,
  MAX_COUNTER_WRAP,
  ringGeometry,
  ringIndex,
  splitRange,
  unwrapCounter,
} from "../lib/ring.ts";
import { GeometryError } from "../lib/errors.ts";

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
