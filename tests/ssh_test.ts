import assert from "node:assert/strict";
import { connectSsh, ddBlockSize, openSsh, shellQuote } from "../backends/ssh/mod.ts";
import { runCommand } from "../backends/process.ts";
import { type Backend, openBackend } from "../backends/mod.ts";
import { SimDevice } from "../lib/sim/device.ts";
import { ImageMemory } from "../lib/sim/image.ts";
import { ringGeometry } from "../lib/ring.ts";
import { VirtualClock } from "../lib/clock.ts";
import { checkCounter } from "../lib/sim/pattern.ts";
import { capture } from "../lib/capture.ts";
import { MemorySink } from "../lib/sink/mod.ts";
import { BackendError, UsageError } from "../lib/errors.ts";
import { ignoreUnless, requireTools, type Sshd, sshMissing, startSshd } from "../testing/sshd.ts";

const missing = await sshMissing();
const ignore = ignoreUnless(missing);
const tmp = await Deno.makeTempDir({ prefix: "ringdump-ssh-test-" });
addEventListener("unload", () => {
  Deno.removeSync(tmp, { recursive: true });
  Deno.removeSync(privateTmp, { recursive: true });
});

// A path with spaces and both kinds of quotes, as a lab might have.
const WEIRD = `${tmp}/board 'mem' "image" $HOME;.img`;
const geometry = ringGeometry({
  base: 0x3000_0000n,
  pageSize: 1024,
  pages: 8,
  counterAddress: 0x3000_2000n,
  counterWrap: 0x20,
});
const ORIGIN = 0x3000_0000n;

Deno.test("shellQuote and ddBlockSize", () => {
  assert.equal(shellQuote("/dev/mem"), `'/dev/mem'`);
  assert.equal(shellQuote(`a 'b'`), `'a '\\''b'\\'''`);
  assert.equal(ddBlockSize(0n, 4096), 4096);
  assert.equal(ddBlockSize(0x3000n, 0x2000), 0x1000);
  assert.equal(ddBlockSize(0n, 4 << 20), 1 << 20);
  assert.equal(ddBlockSize(6000n, 12000), 6000);
  assert.equal(ddBlockSize(3n, 8), 1);
});

Deno.test("ssh: URL mistakes are usage errors", async () => {
  await assert.rejects(
    openBackend("ssh://host/dev/mem", { geometry }),
    /mem=PATH, not the URL path/,
  );
  await assert.rejects(openBackend("ssh://u:pw@host", { geometry }), /no passwords in the URL/);
  await assert.rejects(
    openBackend("ssh://host?via=pixeldump&mem=/x", { geometry }),
    (e: unknown) => e instanceof UsageError && /mem= and origin= are for via=dd/.test(e.message),
  );
  await assert.rejects(openBackend("ssh://host?via=scp", { geometry }), UsageError);
  await assert.rejects(
    openBackend("ssh://host?StrictHostKeyChecking=no", { geometry }),
    /unknown option/,
  );
  await assert.rejects(openSsh("-oProxyCommand=x", {}), /not a host name/);
  await assert.rejects(openSsh("host", { user: "-l" }), /not a user name/);
  await assert.rejects(
    openSsh("host", { identity: `${tmp}/no-key` }),
    /identity= file .* does not exist/,
  );
});

/** The ssh reader, with the simulated hardware stepped whenever the counter is read. */
function stepped(
  dev: SimDevice,
  reader: Backend,
  onCounter?: (n: number) => Promise<void>,
): Backend {
  let n = 0;
  return {
    name: reader.name,
    async readRegister(address, width) {
      dev.step();
      await onCounter?.(++n);
      return reader.readRegister(address, width);
    },
    read: (address, dest) => reader.read(address, dest),
    close: () => reader.close(),
  };
}

/** The test sshd's user, port, key and known_hosts, as openSsh and connectSsh take them. */
function login(sshd: Sshd) {
  return {
    user: sshd.user,
    port: sshd.port,
    identity: sshd.identity,
    knownHosts: sshd.knownHosts,
  };
}

async function withSshd(fn: (sshd: Sshd) => Promise<void>): Promise<void> {
  requireTools(missing);
  const sshd = await startSshd();
  try {
    await fn(sshd);
  } finally {
    await sshd.stop();
  }
}

function simulated(start: number) {
  const clock = new VirtualClock();
  const mem = ImageMemory.open(WEIRD, geometry, { origin: ORIGIN });
  // 10 pages per 100 ms period: the 8-page ring... would lap; 5 per period it is.
  const dev = new SimDevice(geometry, {
    memory: mem,
    clock,
    rate: 1024 * 50,
    pattern: "counter",
    start,
  });
  return { clock, mem, dev };
}

/** The backend's temporary directories, in a TMPDIR of this test's own. */
const privateTmp = await Deno.makeTempDir({ prefix: "ringdump-ssh-tmpdir-" });
function sshTempDirs(): string[] {
  return [...Deno.readDirSync(privateTmp)].filter((e) =>
    e.name.startsWith("ringdump-ssh-") && e.isDirectory
  ).map((e) => e.name);
}

Deno.test({
  name: "ssh: via=dd through one multiplexed connection, a path with spaces and quotes",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      // The remote dd is busybox's.
      const conn = await connectSsh(sshd.host, {
        ...login(sshd),
      });
      const which = await runCommand(conn.command('readlink -f "$(command -v dd)"'));
      await conn.close();
      assert.equal(new TextDecoder().decode(which.stdout).trim(), "/usr/bin/busybox");
      const { clock, mem, dev } = simulated(0x1c);
      const tmpdir = Deno.env.get("TMPDIR");
      Deno.env.set("TMPDIR", privateTmp);
      const reader = await openBackend(sshd.url({ mem: WEIRD, origin: "0x30000000" }), {
        geometry,
      });
      if (tmpdir === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", tmpdir);
      const dirs = sshTempDirs();
      assert.equal(dirs.length, 1); // the private ControlPath directory
      assert.ok(Deno.lstatSync(`${privateTmp}/${dirs[0]}/master.sock`).isSocket);
      const sink = new MemorySink();
      const stats = await capture({
        backend: stepped(dev, reader, () => {
          // Every channel rides the one master connection.
          assert.equal(sshd.connections(), 1);
          return Promise.resolve();
        }),
        geometry,
        out: sink,
        period: 100,
        duration: 1000,
        clock,
      });
      await reader.close();
      mem.close();
      assert.deepEqual(sshTempDirs(), []); // cleaned up
      assert.equal(stats.pages, 50); // the ring laps 6 times, the counter (0x1c..0x4e) wraps twice
      const c = checkCounter(sink.bytes());
      assert.ok(c.ok, `not contiguous at ${c.badAt}`);
      assert.equal(c.endOffset, 50n * 1024n);
      await assert.rejects(reader.read(ORIGIN, new Uint8Array(8)), /after close/);
    }),
});

Deno.test({
  name: "ssh: via=pixeldump runs the remote pixeldump and devmem, quoted",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const { clock, mem, dev } = simulated(0);
      const tools = `${tmp}/board tools 'v1'`;
      await Deno.mkdir(tools, { recursive: true });
      const bin = new URL("../testing/bin/", import.meta.url).pathname;
      for (const tool of ["pixeldump", "devmem"]) {
        // Each tool first reads its stdin to the end, as a careless tool
        // might: it must get nothing (not the next commands of the backend's
        // remote shell), or every read would hang to its deadline.
        await Deno.writeTextFile(
          `${tools}/${tool}`,
          `#!/bin/sh\ncat >/dev/null\nRINGDUMP_IMAGE=${
            shellQuote(WEIRD)
          } RINGDUMP_IMAGE_ORIGIN=0x30000000 ` +
            `exec ${shellQuote(bin + tool)} "$@"\n`,
          { mode: 0o755 },
        );
      }
      const reader = await openBackend(
        sshd.url({
          via: "pixeldump",
          pixeldump: `${tools}/pixeldump`,
          devmem: `${tools}/devmem`,
        }),
        { geometry },
      );
      const sink = new MemorySink();
      const stats = await capture({
        backend: stepped(dev, reader),
        geometry,
        out: sink,
        period: 100,
        duration: 500,
        clock,
      });
      await reader.close();
      mem.close();
      assert.equal(stats.pages, 25);
      assert.ok(checkCounter(sink.bytes()).ok);
      // A failing remote command is an error with its stderr, not a reconnection.
      const bad = await openSsh(sshd.host, {
        ...login(sshd),
        via: "pixeldump",
        pixeldump: `${tools}/pixeldump`,
      });
      await assert.rejects(
        bad.read(0x1000n, new Uint8Array(1024)),
        (e: unknown) =>
          e instanceof BackendError && /exited with 1: pixeldump: 0x1000\+1024 is outside memory/
            .test(e.message),
      );
      assert.equal(bad.reconnects, 0);
      await bad.close();
    }),
});

Deno.test({
  name:
    "ssh: reads run in one remote shell; a short dd is an error with its message, and the next read is in step",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const { mem, dev } = simulated(0x11);
      dev.step();
      const reader = await openSsh(sshd.host, {
        ...login(sshd),
        mem: WEIRD,
        origin: ORIGIN,
      });
      try {
        const size = (await Deno.stat(WEIRD)).size;
        // Past the image's end (0x2004 bytes: the ring and the counter):
        // busybox dd writes what there is, and says so (this read's own lines).
        const end = ORIGIN + BigInt(size);
        await assert.rejects(
          reader.read(end - 1024n, new Uint8Array(4096)),
          (e: unknown) =>
            e instanceof BackendError &&
            /returned 1024 of 4096 bytes at 0x30001c04: the address is outside .*dd said: 256\+0 records in; 256\+0 records out$/
              .test(e.message),
        );
        // The same shell goes on, in step: the ring and the counter, as the
        // image holds them (read here independently of ssh).
        const image = await Deno.readFile(WEIRD);
        for (let i = 0; i < 3; i++) {
          const page = new Uint8Array(1024);
          await reader.read(ORIGIN + BigInt(i * 1024), page);
          assert.deepEqual(page, image.subarray(i * 1024, (i + 1) * 1024));
          const counter = await reader.readRegister(geometry.counterAddress, 32);
          assert.equal(counter, BigInt(new DataView(image.buffer).getUint32(0x2000, true)));
        }
        await assert.rejects(
          reader.readRegister(end, 32),
          /returned 0 of 4 bytes/,
        );
        const pages = [new Uint8Array(2048), new Uint8Array(1024)];
        const v = await reader.readThenRegister!(
          [{ address: ORIGIN + 5120n, dest: pages[0] }, { address: ORIGIN, dest: pages[1] }],
          { address: geometry.counterAddress, width: 32 },
        );
        assert.deepEqual(pages[0], image.subarray(5120, 7168));
        assert.deepEqual(pages[1], image.subarray(0, 1024));
        assert.equal(v, BigInt(new DataView(image.buffer).getUint32(0x2000, true)));
        assert.equal(reader.reconnects, 0);
        assert.equal(sshd.connections(), 1);
      } finally {
        await reader.close();
        mem.close();
      }
    }),
});

Deno.test({
  name: "ssh: a hung remote tool is killed at its deadline, a backend error naming the command",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const hung = `${tmp}/hung_pixeldump`;
      await Deno.writeTextFile(hung, "#!/bin/sh\nexec sleep 1000\n", { mode: 0o755 });
      const reader = await openSsh(sshd.host, {
        ...login(sshd),
        via: "pixeldump",
        pixeldump: hung,
        period: 100, // a deadline of 5 s (the floor) plus 1 ms per KiB read
      });
      try {
        const t0 = performance.now();
        await assert.rejects(
          reader.read(0x1000n, new Uint8Array(1024)),
          (e: unknown) =>
            e instanceof BackendError &&
            /hung_pixeldump'? -a 0x1000 - 1024 1 1' did not finish within its deadline of 5\.001 s; killed it/
              .test(
                e.message,
              ),
        );
        // Killed at its deadline, not after the 1000 s the tool would take.
        assert.ok(performance.now() - t0 < 60_000);
        assert.equal(reader.reconnects, 0);
      } finally {
        await reader.close();
      }
    }),
});

Deno.test({
  name: "ssh: a killed connection is re-established and nothing is lost",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const { clock, mem, dev } = simulated(5);
      const reader = await openSsh(sshd.host, {
        ...login(sshd),
        mem: WEIRD,
        origin: ORIGIN,
        backoff: 50,
      });
      let dropped = 0;
      const sink = new MemorySink();
      const stats = await capture({
        backend: stepped(dev, reader, async (n) => {
          if (n === 6 || n === 13) dropped += await sshd.dropConnections();
        }),
        geometry,
        out: sink,
        period: 100,
        duration: 1000,
        clock,
      });
      assert.equal(dropped, 2);
      assert.equal(reader.reconnects, 2);
      await reader.close();
      mem.close();
      assert.equal(stats.pages, 50);
      assert.equal(stats.lostPages, 0);
      assert.ok(checkCounter(sink.bytes()).ok);
    }),
});

Deno.test({
  name: "ssh: sshd gone for good: a BackendError (exit 3) after bounded retries, data kept",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const { clock, mem, dev } = simulated(0);
      const reader = await openSsh(sshd.host, {
        ...login(sshd),
        mem: WEIRD,
        origin: ORIGIN,
        retries: 3,
        backoff: 50,
      });
      const sink = new MemorySink();
      const t0 = performance.now();
      await assert.rejects(
        capture({
          backend: stepped(dev, reader, async (n) => {
            if (n === 9) await sshd.kill(); // read 1 is the warm-up's counter read
          }),
          geometry,
          out: sink,
          period: 100,
          duration: 1000,
          clock,
        }),
        (e: unknown) =>
          e instanceof BackendError && e.exitCode === 3 &&
          /connection to .*127\.0\.0\.1 lost and not re-established after 3 attempts: .*Connection refused/
            .test(e.message),
      );
      assert.ok(performance.now() - t0 < 20_000);
      await reader.close();
      mem.close();
      const c = checkCounter(sink.bytes());
      assert.ok(c.ok && sink.bytes().length >= 3 * 1024, `${sink.bytes().length} bytes kept`);
    }),
});

Deno.test({
  name: "ssh: host keys are verified; accept-new is an explicit opt-in; unreachable hosts",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const empty = `${tmp}/known_hosts_empty`;
      await Deno.writeTextFile(empty, "");
      const common = { user: sshd.user, port: sshd.port, identity: sshd.identity };
      await assert.rejects(
        openSsh(sshd.host, { ...common, knownHosts: empty }),
        (e: unknown) =>
          e instanceof BackendError && e.exitCode === 3 &&
          /Host key verification failed.*known_hosts=.*host_keys=accept-new/.test(e.message),
      );
      const b = await openSsh(sshd.host, { ...common, knownHosts: empty, hostKeys: "accept-new" });
      await b.close();
      const hostKey = (await Deno.readTextFile(`${sshd.dir}/host_ed25519.pub`)).split(" ")[1];
      assert.ok((await Deno.readTextFile(empty)).includes(` ssh-ed25519 ${hostKey}`));
      // A different key for the same host: refused even with accept-new.
      const wrong = `${tmp}/known_hosts_wrong`;
      const other = (await Deno.readTextFile(`${sshd.identity}.pub`)).split(" ").slice(0, 2);
      await Deno.writeTextFile(wrong, `[127.0.0.1]:${sshd.port} ${other.join(" ")}\n`);
      await assert.rejects(
        openSsh(sshd.host, { ...common, knownHosts: wrong, hostKeys: "accept-new" }),
        /Host key verification failed/,
      );
      // No key for this user: authentication fails without a prompt.
      const foreign = `${tmp}/foreign_key`;
      await Deno.copyFile(`${sshd.dir}/host_ed25519`, foreign);
      await Deno.chmod(foreign, 0o600);
      await assert.rejects(
        openSsh(sshd.host, { ...common, knownHosts: sshd.knownHosts, identity: foreign }),
        /Permission denied.*authentication failed/,
      );
      // Nothing listening.
      const port = sshd.port;
      await sshd.kill();
      await assert.rejects(
        openBackend(`ssh://127.0.0.1:${port}?known_hosts=${sshd.knownHosts}`, { geometry }),
        (e: unknown) =>
          e instanceof BackendError && e.exitCode === 3 &&
          /cannot connect to 127\.0\.0\.1: .*Connection refused \(the host is unreachable/.test(
            e.message,
          ),
      );
    }),
});
