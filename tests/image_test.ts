import assert from "node:assert/strict";
import { ensureImage, imageLayout, ImageMemory } from "../lib/sim/image.ts";
import { SimDevice } from "../lib/sim/device.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { UsageError } from "../lib/errors.ts";
import { openDevmem } from "../backends/devmem.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-image-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

Deno.test("imageLayout: from the lower of ring and counter to the end of the higher", () => {
  const g = ringGeometry({
    base: 0x3000_0000n,
    pageSize: 4096,
    pages: 16,
    counterAddress: 0x2000n,
  });
  assert.deepEqual(imageLayout(g), { origin: 0x2000n, size: 0x3000_0000 + 16 * 4096 - 0x2000 });
  assert.deepEqual(imageLayout(g, { origin: 0n }).size, 0x3000_0000 + 16 * 4096);
  const h = ringGeometry({ base: 0x1000n, pageSize: 4096, pages: 4 });
  assert.deepEqual(imageLayout(h), { origin: 0x1000n, size: 4 * 4096 + 4 });
  assert.throws(
    () => imageLayout(h, { origin: 0x1001n }),
    (e: unknown) => e instanceof UsageError && /above the ring's base 0x1000/.test(e.message),
  );
});

Deno.test("ensureImage: creates, grows, never shrinks", async () => {
  const p = `${tmp}/grow.img`;
  assert.equal(ensureImage(p, { origin: 0n, size: 100 }), 100);
  using f = await Deno.open(p, { write: true });
  await f.write(new Uint8Array([9]));
  assert.equal(ensureImage(p, { origin: 0n, size: 50 }), 100);
  assert.equal((await Deno.stat(p)).size, 100);
  assert.equal((await Deno.readFile(p))[0], 9); // contents kept
  assert.equal(ensureImage(p, { origin: 0n, size: 200 }), 200);
  assert.throws(
    () => ensureImage(`${tmp}/no/such/dir.img`, { origin: 0n, size: 1 }),
    (e: unknown) => e instanceof UsageError && /its directory does not exist/.test(e.message),
  );
  assert.throws(() => ensureImage(tmp, { origin: 0n, size: 1 }), /is a directory/);
});

Deno.test("ImageMemory: pages land at their physical address, the counter after them", async () => {
  const p = `${tmp}/sim.img`;
  const g = ringGeometry({ base: 0x2000n, pageSize: 256, pages: 8, counterWrap: 13 });
  const clock = new VirtualClock();
  const mem = ImageMemory.open(p, g, { origin: 0x1000n });
  assert.equal((await Deno.stat(p)).size, 0x1000 + 8 * 256 + 4);
  const dev = new SimDevice(g, { memory: mem, clock, rate: 256 * 1000, pattern: "counter" });
  clock.advance(11); // 11 pages: the ring laps once, the counter stays below its wrap
  dev.step();
  const bytes = await Deno.readFile(p);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0x1000 + 8 * 256, true), 11);
  // slot 3 holds page 11 - 8 = 3 ... slot 2 holds page 10
  for (let slot = 0; slot < 8; slot++) {
    const page = slot < 3 ? slot + 8 : slot;
    const off = 0x1000 + slot * 256;
    const c = checkCounter(bytes.subarray(off, off + 256));
    assert.ok(c.ok);
    assert.equal(c.firstOffset, BigInt(page * 256));
  }
  assert.ok(bytes.subarray(0, 0x1000).every((b) => b === 0)); // below the ring: untouched
  clock.advance(3); // 14 pages: the counter wraps at 13
  dev.step();
  assert.equal(new DataView((await Deno.readFile(p)).buffer).getUint32(0x1000 + 2048, true), 1);
  mem.close();
  mem.close();
  assert.throws(() => mem.setCounter(1), /after close/);
});

Deno.test("ImageMemory in /dev/shm, where Deno's file API needs --allow-all: through libc", async () => {
  // This test runs with the test task's permissions (no --allow-all), as ringdump does.
  const path = `/dev/shm/ringdump-image-test-${crypto.randomUUID()}.img`;
  const g = ringGeometry({ base: 0n, pageSize: 64, pages: 4, counterWrap: 8 });
  try {
    const mem = ImageMemory.open(path, g);
    const clock = new VirtualClock();
    const dev = new SimDevice(g, { memory: mem, clock, rate: 64 * 1000, pattern: "counter" });
    clock.advance(6);
    dev.step();
    mem.close();
    const dm = await openDevmem(path, { geometry: g });
    assert.equal(await dm.readRegister(g.counterAddress, 32), 6n);
    const ring = new Uint8Array(g.ringBytes);
    await dm.read(0n, ring);
    await dm.close();
    // 6 pages through 4 slots: slots 2-3 hold pages 2-3, slots 0-1 pages 4-5
    const older = checkCounter(ring.subarray(128));
    const newer = checkCounter(ring.subarray(0, 128), { previous: older.endOffset - 8n });
    assert.ok(older.ok && newer.ok);
    assert.equal(older.firstOffset, 128n);
    assert.equal(newer.endOffset, 384n);
  } finally {
    // A real rm: dax's built-in one goes through Deno's file API.
    await new Deno.Command("rm", { args: ["-f", path] }).output();
  }
});
