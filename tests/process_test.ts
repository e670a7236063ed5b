// backends/process.ts: BufferFill, which puts a byte stream's chunks into the
// caller's buffers for runCommand and the ssh backend's remote shell
// (runCommand itself runs real processes in tests/spawn_test.ts and
// tests/pixeldump_test.ts).
import assert from "node:assert/strict";
import fc from "fast-check";
import { BufferFill } from "../backends/process.ts";

Deno.test("BufferFill: any chunking of a stream fills the buffers with its first bytes, in order", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(40), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }),
      (stream, sizes, cuts) => {
        const dests = sizes.map((n) => new Uint8Array(n).fill(0xee));
        const room = sizes.reduce((a, b) => a + b, 0);
        const fill = new BufferFill(dests);
        let at = 0, kept = 0;
        for (let i = 0; at < stream.length; i++) {
          const chunk = stream.subarray(at, at + cuts[i % cuts.length]);
          const fitted = fill.put(chunk);
          // Each chunk fits as far as there is room left, no further.
          assert.equal(fitted, Math.min(chunk.length, room - kept));
          kept += fitted;
          at += chunk.length;
        }
        // The buffers hold the stream's first bytes; what had no data is untouched.
        const joined = new Uint8Array(room);
        let o = 0;
        for (const d of dests) {
          joined.set(d, o);
          o += d.length;
        }
        const n = Math.min(room, stream.length);
        assert.deepEqual(joined.subarray(0, n), stream.subarray(0, n));
        assert.ok(joined.subarray(n).every((b) => b === 0xee));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("BufferFill: no buffers, or only empty ones, keep nothing", () => {
  assert.equal(new BufferFill([]).put(new Uint8Array(5)), 0);
  const empty = new BufferFill([new Uint8Array(0), new Uint8Array(0)]);
  assert.equal(empty.put(new Uint8Array([1, 2])), 0);
  const one = new Uint8Array(1);
  const fill = new BufferFill([new Uint8Array(0), one]);
  assert.equal(fill.put(new Uint8Array([7, 8])), 1);
  assert.deepEqual(one, new Uint8Array([7]));
});
