import assert from "node:assert/strict";
import { DEV_MEM, devmemBackend, openDevmem } from "../backends/devmem.ts";
import { type Backend, openBackend } from "../backends/mod.ts";
import { SimDevice } from "../lib/sim/device.ts";
import { ImageMemory } from "../lib/sim/image.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { capture } from "../lib/capture.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { BackendError } from "../lib/errors.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-devmem-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const geometry = ringGeometry({
  base: 0x3000_0000n,
  pageSize: 4096,
  pages: 16,
  counterAddress: 0x3001_0000n,
  counterWrap: 0x40,
});
const ORIGIN = 0x2fff_0000n;

/** The devmem reader with the simulated hardware stepped whenever the counter is read. */
function stepped(dev: SimDevice, reader: Backend): Backend {
  return {
    name: reader.name,
    readRegister(address, width) {
      dev.step();
      return reader.readRegister(address, width);
    },
    read: (address, dest) => reader.read(address, dest),
    close: () => reader.close(),
  };
}

Deno.test("devmem: a capture of an image the simulated hardware writes is contiguous", async () => {
  const path = `${tmp}/capture.img`;
  const clock = new VirtualClock();
  const mem = ImageMemory.open(path, geometry, { origin: ORIGIN });
  const dev = new SimDevice(geometry, {
    memory: mem,
    clock,
    rate: 4096 * 500,
    pattern: "counter",
    start: 0x3a,
  });
  const reader = await openBackend(`devmem:${path}?origin=${ORIGIN}`, { geometry });
  assert.equal(reader.name, "devmem");
  const sink = new MemorySink();
  const stats = await capture({
    backend: stepped(dev, reader),
    geometry,
    out: sink,
    period: 10,
    duration: 2000,
    clock,
  });
  await reader.close();
  mem.close();
  // 1000 pages through a 16-page ring and a counter wrapping at 0x40: both wrap many times
  assert.equal(stats.pages, 1000);
  const c = checkCounter(sink.bytes());
  assert.ok(c.ok, `not contiguous at ${c.badAt}`);
  assert.equal(c.firstOffset, 0n);
  assert.equal(c.endOffset, 1000n * 4096n);
});

Deno.test("devmem: registers are read fresh on every call, at every width", async () => {
  const path = `${tmp}/regs.img`;
  const mem = ImageMemory.open(path, geometry, { origin: ORIGIN });
  const dm = await openDevmem(path, { origin: ORIGIN, geometry });
  mem.setCounter(0x1234_5678);
  assert.equal(await dm.readRegister(geometry.counterAddress, 32), 0x1234_5678n);
  mem.setCounter(7);
  assert.equal(await dm.readRegister(geometry.counterAddress, 32), 7n);
  mem.setCounter(0xa1b2_c3d4);
  assert.equal(await dm.readRegister(geometry.counterAddress, 8), 0xd4n);
  assert.equal(await dm.readRegister(geometry.counterAddress + 2n, 16), 0xa1b2n);
  const page = new Uint8Array(4096);
  new DataView(page.buffer).setBigUint64(4088, 0x0102_0304_0506_0708n, true);
  mem.commit(15, page);
  assert.equal(await dm.readRegister(geometry.counterAddress - 8n, 64), 0x0102_0304_0506_0708n);
  await assert.rejects(dm.readRegister(geometry.counterAddress + 2n, 32), /not 4-byte aligned/);
  await dm.close();
  await dm.close();
  await assert.rejects(dm.readRegister(geometry.counterAddress, 32), /after close/);
  mem.close();
});

/** This process's mappings (read by `cat`: Deno's file API needs --allow-all for /proc/self/maps). */
async function mappings(): Promise<string[]> {
  const out = await new Deno.Command("cat", { args: [`/proc/${Deno.pid}/maps`] }).output();
  return new TextDecoder().decode(out.stdout).split("\n");
}

Deno.test("devmem: an image is read with pread, never mapped (a mapping of a shrinking file raises SIGBUS)", async () => {
  const path = `${tmp}/ro.img`;
  const mem = ImageMemory.open(path, geometry, { origin: ORIGIN });
  mem.close();
  const dm = await openDevmem(path, { origin: ORIGIN, geometry });
  await dm.readRegister(geometry.counterAddress, 32);
  await dm.read(geometry.base, new Uint8Array(4096));
  const maps = (await mappings()).filter((l) => l.endsWith(path));
  assert.deepEqual(maps, []);
  await dm.close();
  const after = (await mappings()).filter((l) => l.endsWith(path));
  assert.deepEqual(after, []);
});

Deno.test("devmem: reads outside the ring window map their own range", async () => {
  const path = `${tmp}/other.img`;
  const bytes = new Uint8Array(0x2_0010);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
  await Deno.writeFile(path, bytes);
  const dm = await openDevmem(path, { origin: ORIGIN, geometry });
  const dest = new Uint8Array(100);
  await dm.read(ORIGIN + 5n, dest); // below the ring, unaligned
  assert.deepEqual(dest, bytes.subarray(5, 105));
  await dm.read(geometry.base + 4090n, dest); // inside the ring window, unaligned
  assert.deepEqual(dest, bytes.subarray(0x1_0000 + 4090, 0x1_0000 + 4190));
  await dm.close();
});

Deno.test("devmem: an image that grows after the open is read to its new end (the size is asked again)", async () => {
  const path = `${tmp}/grows.img`;
  await Deno.writeFile(path, new Uint8Array(0x1_0000 + 16 * 4096 + 4));
  const dm = await openDevmem(path, { origin: ORIGIN, geometry });
  try {
    const beyond = geometry.base + 20n * 4096n;
    await assert.rejects(dm.read(beyond, new Uint8Array(4096)), /past the end of the image/);
    const f = await Deno.open(path, { write: true });
    await f.seek(0x1_0000 + 20 * 4096, Deno.SeekMode.Start);
    await f.write(new Uint8Array(4096).fill(0x5a));
    f.close();
    const got = new Uint8Array(4096);
    await dm.read(beyond, got);
    assert.ok(got.every((b) => b === 0x5a));
  } finally {
    await dm.close();
  }
});

Deno.test("devmem: a read past the end of an image is a clear error, never a SIGBUS", async () => {
  const path = `${tmp}/short.img`;
  await Deno.writeFile(path, new Uint8Array(0x1_0000 + 16 * 4096 + 4));
  const dm = await openDevmem(path, { origin: ORIGIN, geometry });
  await assert.rejects(
    dm.read(geometry.base + 16n * 4096n, new Uint8Array(4096)),
    (e: unknown) =>
      e instanceof BackendError && e.exitCode === 3 &&
      /past the end of the image .*short\.img, which covers 0x2fff0000\.\.0x30010004/.test(
        e.message,
      ),
  );
  // The image shrinks under a live capture: still an error that says so, not a crash.
  await Deno.truncate(path, 0x1_0000 + 4096);
  await assert.rejects(
    dm.read(geometry.base + 8n * 4096n, new Uint8Array(4096)),
    /got only 0 bytes: the image .*short\.img shrank under the capture \(now 69632 bytes\)/,
  );
  await assert.rejects(
    dm.readRegister(geometry.counterAddress, 32),
    /shrank under the capture \(now 69632 bytes\)/,
  );
  await assert.rejects(dm.read(ORIGIN - 8n, new Uint8Array(8)), /below .*origin 0x2fff0000/);
  await dm.close();
  // A ring that does not fit the image is refused when the backend opens.
  await assert.rejects(
    openDevmem(path, { origin: ORIGIN, geometry }),
    /the ring .* is past the end of the image/,
  );
});

Deno.test("devmem: an image about to appear (a sim just started) is waited for, bounded", async () => {
  const path = `${tmp}/appearing.img`;
  // Created empty first, sized later: as `ringdump sim` creates it (open, then ftruncate).
  const created = (async () => {
    await new Promise((r) => setTimeout(r, 300));
    await Deno.writeFile(path, new Uint8Array(0));
    await new Promise((r) => setTimeout(r, 300));
    await Deno.writeFile(path, new Uint8Array(geometry.ringBytes + 8));
  })();
  const mem = await openBackend(`devmem:${path}?origin=${geometry.base}`, { geometry });
  await created;
  assert.equal(await mem.readRegister(geometry.base, 32), 0n);
  await mem.close();
});

Deno.test("devmem: missing files and /dev/mem give messages that say what to do", async () => {
  await assert.rejects(
    openBackend(`devmem:${tmp}/nothing.img?wait=200ms`, { geometry }),
    (e: unknown) =>
      e instanceof BackendError &&
      /nothing\.img does not exist; .* \(waited 0\.2 s for it to appear\)$/.test(e.message),
  );
  await assert.rejects(
    openBackend(`devmem:${tmp}/nothing.img?wait=0`, { geometry }),
    (e: unknown) =>
      e instanceof BackendError && /nothing\.img does not exist; give/.test(e.message),
  );
  await assert.rejects(openBackend(`devmem:${tmp}`, { geometry }), /is a directory/);
  await assert.rejects(openBackend("devmem://host/x", { geometry }), /takes a path/);
  const probe = await devmemBackend.probe();
  let devMem = true;
  try {
    await Deno.stat(DEV_MEM);
  } catch {
    devMem = false;
  }
  if (!devMem) {
    assert.deepEqual(probe, {
      usable: false,
      detail: "/dev/mem: absent (memory images still work)",
    });
    await assert.rejects(
      openBackend("devmem:", { geometry }),
      (e: unknown) =>
        e instanceof BackendError && e.exitCode === 3 &&
        /no \/dev\/mem on this system; use pixeldump:/.test(e.message),
    );
  } else {
    assert.match(probe.detail, /^\/dev\/mem: /);
  }
});
