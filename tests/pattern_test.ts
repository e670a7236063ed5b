import assert from "node:assert/strict";
import fc from "fast-check";
import { checkCounter, fillCounter, fillSine } from "../lib/sim/pattern.ts";

Deno.test("fillCounter: each word holds its stream offset, across the 2^32 boundary", () => {
  const buf = new Uint8Array(64);
  fillCounter(buf, 2 ** 32 - 16);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < 8; i++) {
    assert.equal(v.getBigUint64(i * 8, true), 2n ** 32n - 16n + BigInt(i * 8));
  }
  assert.throws(() => fillCounter(new Uint8Array(12), 0), RangeError);
  assert.throws(() => fillCounter(new Uint8Array(16), 4), RangeError);
});

Deno.test("checkCounter: contiguous runs pass, any changed word fails at its offset (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 0, max: 2 ** 45 }).map((n) => n * 8),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (words, offset, at, flip) => {
        const buf = new Uint8Array(words * 8);
        fillCounter(buf, offset);
        const ok = checkCounter(buf);
        assert.ok(ok.ok);
        assert.equal(ok.firstOffset, BigInt(offset));
        assert.equal(ok.endOffset, BigInt(offset + words * 8));
        if (words === 1) return; // a lone word is any start offset
        const byte = at % buf.length;
        buf[byte] ^= flip;
        const bad = checkCounter(buf);
        assert.equal(bad.ok, false);
        // a flip in the first word changes the start, so the second word is then the mismatch
        const word = Math.floor(byte / 8);
        assert.equal(bad.badAt, word === 0 ? 8 : word * 8);
      },
    ),
    { numRuns: 1000, seed: 3 },
  );
});

Deno.test("checkCounter: continues from a previous word", () => {
  const buf = new Uint8Array(16);
  fillCounter(buf, 80);
  assert.ok(checkCounter(buf, { previous: 72n }).ok);
  const r = checkCounter(buf, { previous: 64n });
  assert.equal(r.ok, false);
  assert.equal(r.badAt, 0);
  assert.equal(r.expected, 72n);
  assert.equal(r.found, 80n);
});

Deno.test("fillSine: a 16-bit tone at the requested frequency, continuous across calls", () => {
  const rate = 48000, channels = 2, f = 1000;
  const whole = new Uint8Array(4 * 4800);
  fillSine(whole, 0, { frequency: f, sampleRate: rate, channels });
  const parts = new Uint8Array(4 * 4800);
  fillSine(parts.subarray(0, 4096), 0, { frequency: f, sampleRate: rate, channels });
  fillSine(parts.subarray(4096), 4096, { frequency: f, sampleRate: rate, channels });
  assert.deepEqual(parts, whole);
  const s = new Int16Array(whole.buffer);
  // left == right, and the zero crossings upward come every rate / f frames
  let ups = 0;
  for (let i = 1; i < s.length / 2; i++) {
    assert.equal(s[2 * i], s[2 * i + 1]);
    if (s[2 * (i - 1)] < 0 && s[2 * i] >= 0) ups++;
  }
  assert.ok(ups >= 99 && ups <= 100, `upward crossings ${ups}`);
  assert.ok(Math.max(...s) > 8000 && Math.max(...s) <= 8192);
});
