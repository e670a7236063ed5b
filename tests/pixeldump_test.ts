import assert from "node:assert/strict";
import fc from "fast-check";
import { openPixeldump, parseRegisterOutput } from "../backends/pixeldump.ts";
import { runCommand, showCommand } from "../backends/process.ts";
import { type Backend, openBackend } from "../backends/mod.ts";
import { SimDevice } from "../lib/sim/device.ts";
import { ImageMemory } from "../lib/sim/image.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { capture } from "../lib/capture.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { BackendError } from "../lib/errors.ts";

const PIXELDUMP = new URL("../testing/bin/pixeldump", import.meta.url).pathname;
const DEVMEM = new URL("../testing/bin/devmem", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "ringdump-pixeldump-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const geometry = ringGeometry({
  base: 0x3000_0000n,
  pageSize: 1024,
  pages: 8,
  counterAddress: 0x4000_0010n,
  counterWrap: 0x20,
});
const ORIGIN = 0x3000_0000n;
const env = (image: string) => ({ RINGDUMP_IMAGE: image, RINGDUMP_IMAGE_ORIGIN: "0x30000000" });

Deno.test("emulators: accept exactly the reference's forms and nothing else", async () => {
  const image = `${tmp}/forms.img`;
  const bytes = new Uint8Array(64).map((_, i) => i);
  await Deno.writeFile(image, bytes);
  const run = (argv: string[]) => runCommand(argv, { env: env(image) });
  let r = await run([PIXELDUMP, "-a", "0x30000004", "-", "8", "2", "1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout, bytes.subarray(4, 20));
  r = await run([PIXELDUMP, "-a", String(0x3000_0004), "-", "4", "1", "1"]);
  assert.deepEqual(r.stdout, bytes.subarray(4, 8));
  for (
    const bad of [
      ["-a", "0x30000004", "out.bin", "8", "2", "1"], // to a file
      ["-a", "0x30000004", "-", "8", "2", "4"], // 4 bytes per pixel
      ["-a", "0x30000004", "-", "8", "2"],
      ["0x30000004", "-", "8", "2", "1", "-a"],
      ["-a", "0x3000zz04", "-", "8", "2", "1"],
      ["-a", "0x30000004", "-", "8", "1; rm -rf /", "1"],
    ]
  ) {
    r = await run([PIXELDUMP, ...bad]);
    assert.equal(r.code, 2, `${bad.join(" ")} was accepted`);
    assert.equal(r.stdout.length, 0);
  }
  r = await run([PIXELDUMP, "-a", "0x30000040", "-", "8", "1", "1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /outside memory/);
  new DataView(bytes.buffer).setUint32(8, 0x2a, true);
  await Deno.writeFile(image, bytes);
  r = await run([DEVMEM, "0x30000008", "32"]);
  assert.equal(new TextDecoder().decode(r.stdout), "0x0000002A\n");
  r = await run([DEVMEM, "0x30000008", "8"]);
  assert.equal(new TextDecoder().decode(r.stdout), "0x2A\n");
  r = await run([DEVMEM, "0x30000008", "32", "0x1"]); // a write: refused
  assert.equal(r.code, 2);
  r = await run([DEVMEM, "0x30000008", "12"]);
  assert.equal(r.code, 2);
});

/** The pixeldump reader with the simulated hardware stepped whenever the counter is read. */
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

Deno.test("pixeldump: a capture through the commands is contiguous across wraps", async () => {
  const image = `${tmp}/capture.img`;
  const clock = new VirtualClock();
  const mem = ImageMemory.open(image, geometry, { origin: ORIGIN });
  const dev = new SimDevice(geometry, {
    memory: mem,
    clock,
    rate: 1024 * 100,
    pattern: "counter",
    start: 0x1e,
  });
  const reader = openPixeldump({ bin: PIXELDUMP, reg: DEVMEM, pageSize: 1024, env: env(image) });
  const sink = new MemorySink();
  // 100 pages through an 8-page ring, a counter wrapping at 0x20; periods of 3-5 pages
  const stats = await capture({
    backend: stepped(dev, reader),
    geometry,
    out: sink,
    period: 40,
    duration: 1000,
    clock,
  });
  await reader.close();
  mem.close();
  assert.equal(stats.pages, 100);
  const c = checkCounter(sink.bytes());
  assert.ok(c.ok, `not contiguous at ${c.badAt}`);
  assert.equal(c.endOffset, 100n * 1024n);
});

Deno.test("pixeldump: failures are BackendErrors carrying the command and its stderr", async () => {
  const image = `${tmp}/fail.img`;
  await Deno.writeFile(image, new Uint8Array(4096));
  const missing = openPixeldump({ bin: PIXELDUMP, reg: DEVMEM, env: env(`${tmp}/absent.img`) });
  await assert.rejects(missing.read(ORIGIN, new Uint8Array(4096)), (e: unknown) => {
    assert.ok(e instanceof BackendError);
    assert.equal(e.exitCode, 3);
    assert.deepEqual(e.command, [PIXELDUMP, "-a", "0x30000000", "-", "4096", "1", "1"]);
    assert.match(e.stderr!, /cannot open .*absent\.img/);
    assert.match(e.message, /exited with 1: pixeldump: cannot open/);
    return true;
  });
  await assert.rejects(missing.readRegister(0x3000_0000n, 32), /devmem .*exited with 1/);
  // Fewer bytes than asked, with exit 0.
  const short = openPixeldump({ bin: "/usr/bin/true", reg: DEVMEM, env: env(image) });
  await assert.rejects(
    short.read(ORIGIN, new Uint8Array(4096)),
    (e: unknown) =>
      e instanceof BackendError && /wrote 0 bytes, fewer than the 4096 asked for/.test(e.message),
  );
  // A program that is not there.
  const none = await openBackend("pixeldump:?bin=/nonexistent/pixeldump&reg=no-such-devmem", {
    geometry,
  });
  await assert.rejects(
    none.read(ORIGIN, new Uint8Array(1024)),
    /cannot run '\/nonexistent\/pixeldump': not found; install it or point bin= at it/,
  );
  await assert.rejects(
    none.readRegister(0x4000_0010n, 32),
    /cannot run 'no-such-devmem': not found; install it or point reg= at it/,
  );
  // Output that is not a register value.
  const echo = openPixeldump({ reg: "/bin/echo" });
  await assert.rejects(echo.readRegister(0x10n, 32), /printed '0x10 32', not a hex value/);
  await echo.close();
  await assert.rejects(echo.read(0n, new Uint8Array(1)), /after close/);
  await assert.rejects(openBackend("pixeldump:?binary=x", { geometry }), /unknown option 'binary'/);
});

Deno.test("pixeldump: helpers", () => {
  assert.equal(parseRegisterOutput("0x0000002A\n"), 42n);
  assert.equal(parseRegisterOutput("42"), 42n);
  assert.equal(parseRegisterOutput("Bus error"), undefined);
  assert.equal(showCommand(["pixeldump", "-a", "0x10", "-"]), "pixeldump -a 0x10 -");
  assert.equal(showCommand(["a b", "it's"]), `'a b' 'it'\\''s'`);
});

Deno.test("runCommand: a real command's output into a list of buffers, one after another, then up to keepAfter bytes after them (property)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringdump-into-" });
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.array(fc.integer({ min: 0, max: 150_000 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 70_000 }),
        async (size, lengths, keepAfter) => {
          const bytes = new Uint8Array(size);
          for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + (i >> 13)) & 0xff;
          const file = `${dir}/out.bin`;
          await Deno.writeFile(file, bytes);
          const dests = lengths.map((n) => new Uint8Array(n).fill(0xee));
          const r = await runCommand(["cat", file], { into: dests, keepAfter });
          assert.equal(r.code, 0);
          assert.equal(r.stdoutBytes, size);
          let at = 0;
          for (const d of dests) {
            const got = Math.max(0, Math.min(d.length, size - at));
            assert.deepEqual(d.subarray(0, got), bytes.subarray(at, at + got));
            // What the command did not write is left alone.
            assert.ok(d.subarray(got).every((b) => b === 0xee));
            at += d.length;
          }
          const after = bytes.subarray(Math.min(at, size), Math.min(at + keepAfter, size));
          assert.deepEqual(r.after ?? new Uint8Array(0), after);
        },
      ),
      { numRuns: 40, seed: 20261204 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pixeldump: readThenRegister runs the ranges side by side, then the register after both have ended; a failed range is thrown after the others end", async () => {
  const image = `${tmp}/rtr.img`;
  const bytes = new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
  await Deno.writeFile(image, bytes);
  const log = `${tmp}/rtr.log`;
  await Deno.writeTextFile(log, "");
  // Wrappers around the emulators that log when each run starts and ends
  // (a second of sleep each: slack for a busy machine between the two starts).
  const wrap = async (name: string, real: string, key: string) => {
    const path = `${tmp}/${name}`;
    await Deno.writeTextFile(
      path,
      `#!/bin/sh\necho "start ${key}" >> "$RTR_LOG"\nsleep 1\n"${real}" "$@"\nrc=$?\n` +
        `echo "end ${key}" >> "$RTR_LOG"\nexit $rc\n`,
    );
    await Deno.chmod(path, 0o755);
    return path;
  };
  const backend = openPixeldump({
    bin: await wrap("pd-wrap", PIXELDUMP, "$2"),
    reg: await wrap("reg-wrap", DEVMEM, "reg"),
    pageSize: 4096,
    env: { ...env(image), RTR_LOG: log },
  });
  try {
    const a = new Uint8Array(8192), b = new Uint8Array(4096);
    const value = await backend.readThenRegister!([
      { address: ORIGIN + 0x4000n, dest: a },
      { address: ORIGIN, dest: b },
    ], { address: ORIGIN + 0x100n, width: 32 });
    assert.deepEqual(a, bytes.subarray(0x4000, 0x6000));
    assert.deepEqual(b, bytes.subarray(0, 4096));
    assert.equal(value, BigInt(new DataView(bytes.buffer).getUint32(0x100, true)));
    const lines = (await Deno.readTextFile(log)).trim().split("\n");
    const at = (l: string) => lines.indexOf(l);
    // Both reads started before either ended; the register after both ended.
    for (const s of ["start 0x30004000", "start 0x30000000"]) {
      assert.ok(
        at(s) >= 0 && at(s) < Math.min(at("end 0x30004000"), at("end 0x30000000")),
        lines.join(" | "),
      );
    }
    assert.ok(
      at("start reg") > Math.max(at("end 0x30004000"), at("end 0x30000000")),
      lines.join(" | "),
    );

    // A range outside the image fails; the other still ends before the error is thrown, no register read.
    await Deno.writeTextFile(log, "");
    await assert.rejects(
      backend.readThenRegister!([
        { address: ORIGIN + 0x100000n, dest: new Uint8Array(4096) },
        { address: ORIGIN, dest: new Uint8Array(4096) },
      ], { address: ORIGIN + 0x100n, width: 32 }),
      BackendError,
    );
    const after = (await Deno.readTextFile(log)).trim().split("\n");
    assert.ok(
      after.includes("end 0x30000000") && after.includes("end 0x30100000"),
      after.join(" | "),
    );
    assert.ok(!after.includes("start reg"), after.join(" | "));
  } finally {
    await backend.close();
  }
});
