import assert from "node:assert/strict";
import { verifyCounterFile } from "../lib/sim/verify.ts";
import { fillCounter } from "../lib/sim/pattern.ts";
import { UsageError, VerifyError } from "../lib/errors.ts";

async function withFile(data: Uint8Array, fn: (path: string) => Promise<void>) {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, data);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("verify: a contiguous capture, across chunk boundaries, reports its range", async () => {
  const data = new Uint8Array(10_000 * 8);
  fillCounter(data, 0x1000);
  await withFile(data, async (path) => {
    for (const chunkBytes of [8, 24, 4096, 1 << 20]) {
      const r = await verifyCounterFile(path, { chunkBytes });
      assert.deepEqual(r, { bytes: 80_000, firstOffset: 0x1000n, endOffset: 0x1000n + 80_000n });
    }
  });
});

Deno.test("verify: names the first gap with its file offset and size", async () => {
  const data = new Uint8Array(4096 * 3);
  fillCounter(data.subarray(0, 8192), 0);
  fillCounter(data.subarray(8192), 8192 + 4096 * 5); // five pages missing
  await withFile(data, async (path) => {
    for (const chunkBytes of [16, 1000, 1 << 20]) {
      await assert.rejects(
        verifyCounterFile(path, { chunkBytes }),
        (e: unknown) =>
          e instanceof VerifyError && e.offset === 8192 && e.expected === 8192n &&
          e.found === 8192n + 20480n && /a gap of 20480 bytes/.test(e.message),
      );
    }
  });
});

Deno.test("verify: a corrupted word, a partial word, an empty file, a missing file, a directory", async () => {
  const data = new Uint8Array(64);
  fillCounter(data, 0);
  data[40] ^= 1;
  await withFile(data, async (path) => {
    await assert.rejects(verifyCounterFile(path), (e: unknown) => (e as VerifyError).offset === 40);
  });
  const partial = new Uint8Array(20);
  fillCounter(partial.subarray(0, 16), 0);
  await withFile(partial, async (path) => {
    await assert.rejects(verifyCounterFile(path), /partial word: 4 bytes after offset 16/);
  });
  await withFile(new Uint8Array(0), async (path) => {
    await assert.rejects(verifyCounterFile(path), /is empty: nothing was captured/);
  });
  await assert.rejects(verifyCounterFile("/nonexistent/file.bin"), UsageError);
  const dir = await Deno.makeTempDir();
  await assert.rejects(verifyCounterFile(dir), /is not a regular file; give the capture file/);
  await Deno.remove(dir);
});
