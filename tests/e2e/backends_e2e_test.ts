/**
 * End to end: `ringdump sim` writes the counter pattern into a memory image in
 * /dev/shm, and `ringdump capture` reads it through each real backend —
 * devmem: (FFI mmap), pixeldump: (the emulated board tools), ssh:// (a real
 * sshd on 127.0.0.1) and a plugin — then `ringdump verify` checks the result.
 */
import assert from "node:assert/strict";
import { finish, ringdump, spawnRingdump } from "../../testing/run_cli.ts";
import { ignoreUnless, requireTools, sshMissing, startSshd } from "../../testing/sshd.ts";
import { closeFd, openReadOnly } from "../../backends/libc_util.ts";
import {
  fileSize,
  LIVE_GEOMETRY,
  LIVE_RATE,
  LIVE_RATE_BYTES,
  waitFor,
  waitForSize,
} from "../../testing/live.ts";

// Outputs go to an ordinary temporary directory; memory images to /dev/shm, made and removed
// with real mktemp and rm (Deno's file API needs --allow-all under /dev, the tests do not get it).
const tmp = await Deno.makeTempDir({ prefix: "ringdump-backends-e2e-" });
const shm = new TextDecoder().decode(
  (await new Deno.Command("mktemp", { args: ["-d", "/dev/shm/ringdump-e2e-XXXXXX"] }).output())
    .stdout,
).trim();
assert.match(shm, /^\/dev\/shm\/ringdump-e2e-/);
addEventListener("unload", () => {
  Deno.removeSync(tmp, { recursive: true });
  new Deno.Command("rm", { args: ["-rf", shm] }).outputSync();
});

/** Whether this machine has /dev/mem (asked through libc, as the backend does). */
function hasDevMem(): boolean {
  const r = openReadOnly("/dev/mem");
  if ("fd" in r) closeFd(r.fd);
  return !("errno" in r && r.errno.name === "ENOENT");
}
const BIN = new URL("../../testing/bin", import.meta.url).pathname;
const PLUGIN = new URL("../../testing/plugin_backend.ts", import.meta.url).pathname;

/** A running `ringdump sim`. */
interface Sim {
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Starts `ringdump sim` and returns once the image exists and the device writes. */
async function startSim(args: string[]): Promise<Sim> {
  const child = spawnRingdump(["sim", ...args]);
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ringdump sim: writing/.test(text)) {
    const { value, done } = await reader.read();
    if (done) {
      const s = await child.status;
      throw new Error(`ringdump sim exited with ${s.code}: ${text}`);
    }
    text += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return {
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already done */ }
      const s = await child.status;
      child.stdout.cancel();
      return { code: s.code, stderr: await rest };
    },
  };
}

const GEOMETRY = ["--page-size", "4KiB", "--pages", "64", "--counter-wrap", "0x100"];

async function verified(out: string, minBytes: number): Promise<string> {
  const size = (await Deno.stat(out)).size;
  assert.ok(size >= minBytes, `only ${size} bytes captured`);
  const v = await ringdump(["verify", out]);
  assert.equal(v.code, 0, v.stderr);
  return new TextDecoder().decode(v.stdout);
}

Deno.test("ringdump sim: writes until --duration or SIGTERM, sizes the image, checks flags", async () => {
  const image = `${shm}/sim.img`;
  const r = await ringdump([
    "sim",
    "--image",
    image,
    "--base",
    "0x1000",
    "--origin",
    "0",
    ...GEOMETRY,
    "--rate",
    "1MiB",
    "--duration",
    "300ms",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote 7\d pages .* counter at 0x[0-9a-f]+/);
  const size = await new Deno.Command("stat", { args: ["-c", "%s", image] }).output();
  assert.equal(new TextDecoder().decode(size.stdout).trim(), String(0x1000 + 64 * 4096 + 4));
  const sim = await startSim(["--image", image, "--base", "0x1000", "--origin", "0", ...GEOMETRY]);
  await new Promise((r) => setTimeout(r, 200));
  const s = await sim.stop();
  assert.equal(s.code, 0);
  assert.match(s.stderr, /ringdump sim: wrote \d+ pages/);
  const bad = await ringdump(["sim", "--image", image, "--base", "0x1000", "--origin", "0x2000"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--origin 0x2000 is above the ring's base 0x1000/);
  const none = await ringdump(["sim", "--image", `${tmp}/no/dir/x.img`]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /directory does not exist/);
});

Deno.test("devmem: capture from a live ringdump sim passes verify", async () => {
  const image = `${shm}/devmem.img`;
  const sim = await startSim([
    "--image",
    image,
    "--origin",
    "0",
    ...LIVE_GEOMETRY,
    "--rate",
    LIVE_RATE,
  ]);
  try {
    const out = `${tmp}/devmem.bin`;
    const cap = await ringdump([
      "capture",
      "--backend",
      `devmem:${image}?origin=0`,
      ...LIVE_GEOMETRY,
      "--period",
      "20ms",
      "--duration",
      "4s",
      "--out",
      out,
    ]);
    assert.equal(cap.code, 0, cap.stderr);
    assert.match(cap.stderr, / 0 pages lost/);
    // 4 s of the live writer: the ring (3 s of slack) laps, the counter wraps
    await verified(out, LIVE_RATE_BYTES * 3.5);
  } finally {
    await sim.stop();
  }
});

Deno.test("pixeldump: capture through the board's commands from a live ringdump sim passes verify", async () => {
  const image = `${shm}/pixeldump.img`;
  // One process per read and per register read: slow on a loaded machine, so the live ring
  // (3 s of slack) rather than a race; the many-wraps case runs on a virtual clock in
  // tests/pixeldump_test.ts.
  const geometry = LIVE_GEOMETRY;
  const sim = await startSim(["--image", image, "--origin", "0", ...geometry, "--rate", LIVE_RATE]);
  try {
    const out = `${tmp}/pixeldump.bin`;
    const cap = await ringdump(
      [
        "capture",
        "--backend",
        "pixeldump:",
        ...geometry,
        "--period",
        "50ms",
        "--duration",
        "4s",
        "--out",
        out,
      ],
      { env: { PATH: `${BIN}:${Deno.env.get("PATH")}`, RINGDUMP_IMAGE: image } },
    );
    assert.equal(cap.code, 0, cap.stderr);
    // 4 s of the live writer: the ring laps, the counter wraps
    await verified(out, LIVE_RATE_BYTES * 3.5);
  } finally {
    await sim.stop();
  }
});

Deno.test("a backend plugin loaded with --backend-module captures and is listed", async () => {
  const image = `${tmp}/plugin.img`;
  const sim = await startSim([
    "--image",
    image,
    "--origin",
    "0",
    ...LIVE_GEOMETRY,
    "--rate",
    LIVE_RATE,
  ]);
  try {
    const out = `${tmp}/plugin.bin`;
    const cap = await ringdump([
      "capture",
      "--backend-module",
      PLUGIN,
      "--backend",
      `imagefile:${image}`,
      ...LIVE_GEOMETRY,
      "--period",
      "20ms",
      "--duration",
      "1s",
      "--out",
      out,
    ]);
    assert.equal(cap.code, 0, cap.stderr);
    await verified(out, LIVE_RATE_BYTES * 0.9);
  } finally {
    await sim.stop();
  }
  const without = await ringdump([
    "capture",
    "--backend",
    `imagefile:${image}`,
    "--out",
    `${tmp}/x`,
  ]);
  assert.equal(without.code, 2);
  assert.match(without.stderr, /unknown backend scheme 'imagefile:'.*--backend-module/);
  const list = await ringdump(["backends", "--backend-module", PLUGIN]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(new TextDecoder().decode(list.stdout), /^imagefile: +test plugin/m);
});

Deno.test("ringdump backends: every scheme, what it needs, whether it is usable here", async () => {
  const r = await ringdump(["backends"]);
  assert.equal(r.code, 0, r.stderr);
  const text = new TextDecoder().decode(r.stdout);
  for (const scheme of ["sim", "devmem", "pixeldump", "ssh"]) {
    assert.match(text, new RegExp(`^${scheme}: `, "m"));
  }
  assert.equal(text.match(/^ +needs: /gm)?.length, 4);
  assert.equal(text.match(/^ +here: +(usable|NOT usable): /gm)?.length, 4);
  if (!hasDevMem()) assert.match(text, /NOT usable: \/dev\/mem: absent/);
  const json = await ringdump(["backends", "--json"]);
  const list = JSON.parse(new TextDecoder().decode(json.stdout));
  assert.deepEqual(list.map((b: { scheme: string }) => b.scheme), [
    "sim",
    "devmem",
    "pixeldump",
    "ssh",
  ]);
  assert.equal(list[0].usable, true);
});

Deno.test("clear messages and exit codes: past the image, no /dev/mem, failing pixeldump", async () => {
  const image = `${tmp}/small.img`;
  await Deno.writeFile(image, new Uint8Array(8192));
  const capture = (backend: string, env?: Record<string, string>) =>
    ringdump(
      ["capture", "--backend", backend, ...GEOMETRY, "--duration", "1s", "--out", `${tmp}/e.bin`],
      { env },
    );
  let r = await capture(`devmem:${image}`);
  assert.equal(r.code, 3);
  assert.match(
    r.stderr,
    /^ringdump: devmem: the ring \(262144 bytes at 0x0\) is past the end of the image .*small\.img, which covers 0x0\.\.0x2000/m,
  );
  assert.doesNotMatch(r.stderr, /^\s+at /m); // no stack trace
  if (!hasDevMem()) {
    r = await capture("devmem:");
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^ringdump: devmem: no \/dev\/mem on this system; use pixeldump:/m);
  }
  r = await capture(`pixeldump:?bin=${BIN}/pixeldump&reg=${BIN}/devmem`, {
    RINGDUMP_IMAGE: `${tmp}/absent.img`,
  });
  assert.equal(r.code, 3);
  assert.match(
    r.stderr,
    /^ringdump: pixeldump: '.*\/devmem 0x40000 32' exited with 1: devmem: .*absent\.img: No such file/m,
  );
  r = await capture(`pixeldump:?bin=${BIN}/pixeldump&reg=/nonexistent/devmem`);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot run '\/nonexistent\/devmem': not found/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
});

const missing = await sshMissing();

Deno.test({
  name: "ssh: capture from a live ringdump sim survives killed connections, then fails cleanly",
  ignore: ignoreUnless(missing),
  async fn() {
    requireTools(missing);
    const sshd = await startSshd();
    const image = `${shm}/ssh image 'x'.img`;
    // At 256 KiB/s a 1 MiB ring holds 4 s (a reconnection on a loaded machine takes seconds),
    // and the counter wraps every 1.5 MiB.
    const geometry = ["--page-size", "4KiB", "--pages", "256", "--counter-wrap", "0x180"];
    const sim = await startSim([
      "--image",
      image,
      "--origin",
      "0",
      ...geometry,
      "--rate",
      LIVE_RATE,
    ]);
    try {
      const url = sshd.url({ mem: image, retries: "4" });
      const out = `${tmp}/ssh.bin`;
      const child = spawnRingdump([
        "capture",
        "--backend",
        url,
        ...geometry,
        "--period",
        "50ms",
        "--duration",
        "7s",
        "--out",
        out,
      ]);
      // Drop every connection twice, each time once the capture has written more.
      let dropped = 0;
      let exited = false;
      child.status.then(() => exited = true);
      for (let i = 0; i < 2; i++) {
        const target = (await fileSize(out)) + 64 * 1024;
        await waitFor(async () => exited || await fileSize(out) >= target, {
          what: `${out} to reach ${target} bytes`,
        });
        if (exited) break;
        dropped += await sshd.dropConnections();
      }
      const cap = await finish(child);
      assert.equal(cap.code, 0, cap.stderr);
      assert.equal(dropped, 2);
      assert.match(cap.stderr, /reconnected to .*127\.0\.0\.1/);
      assert.match(cap.stderr, / 0 pages lost/);
      // 7 s at 256 KiB/s: the ring laps, the counter wraps
      await verified(out, LIVE_RATE_BYTES * 6);

      // sshd gone for good: exit 3, and what was captured is on disk and contiguous.
      const out2 = `${tmp}/ssh-gone.bin`;
      const child2 = spawnRingdump([
        "capture",
        "--backend",
        sshd.url({ mem: image, retries: "3" }),
        ...geometry,
        "--period",
        "50ms",
        "--duration",
        "20s",
        "--out",
        out2,
      ]);
      await waitForSize(out2, 128 * 1024);
      await sshd.kill();
      const gone = await finish(child2);
      assert.equal(gone.code, 3, gone.stderr);
      assert.match(
        gone.stderr,
        /^ringdump: ssh: connection to .*127\.0\.0\.1 lost and not re-established after 3 attempts: .*Connection refused/m,
      );
      assert.doesNotMatch(gone.stderr, /^\s+at /m);
      await verified(out2, 128 * 1024);

      // An unreachable host.
      const r = await ringdump([
        "capture",
        "--backend",
        `ssh://127.0.0.1:${sshd.port}?known_hosts=${sshd.knownHosts}`,
        "--out",
        `${tmp}/u.bin`,
      ]);
      assert.equal(r.code, 3);
      assert.match(
        r.stderr,
        /^ringdump: ssh: cannot connect to 127\.0\.0\.1: .*Connection refused \(the host is unreachable/m,
      );
    } finally {
      await sim.stop();
      await sshd.stop();
    }
  },
});
