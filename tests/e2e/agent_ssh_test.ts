/**
 * `ssh://...?via=agent` and `ringdump deploy` against a real sshd
 * (testing/sshd.ts): the agent runs as `deno run <the ringdump task's flags>
 * cli.ts agent` on the "board" (this machine, over SSH).
 */
import assert from "node:assert/strict";
import { finish, REMOTE_RINGDUMP, ringdump, spawnRingdump } from "../../testing/run_cli.ts";
import {
  ignoreUnless,
  requireTools,
  type Sshd,
  sshMissing,
  startSshd,
} from "../../testing/sshd.ts";
import {
  LIVE_GEOMETRY,
  LIVE_PAGES,
  LIVE_RATE,
  LIVE_RATE_BYTES,
  waitForSize,
} from "../../testing/live.ts";

const missing = await sshMissing();
const ignore = ignoreUnless(missing);
const tmp = await Deno.makeTempDir({ prefix: "ringdump-agent-ssh-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

async function withSshd(fn: (sshd: Sshd) => Promise<void>): Promise<void> {
  requireTools(missing);
  const sshd = await startSshd();
  try {
    await fn(sshd);
  } finally {
    await sshd.stop();
  }
}

// The live ring: 3 s of slack, for a loaded machine.
const GEOMETRY = LIVE_GEOMETRY;

/** Starts `ringdump sim` writing the counter pattern into `image`; resolves once it exists. */
async function startSim(image: string, rate: string): Promise<Deno.ChildProcess> {
  const sim = spawnRingdump([
    "sim",
    "--image",
    image,
    "--origin",
    "0",
    ...GEOMETRY,
    "--rate",
    rate,
    "--duration",
    "60s",
    "--quiet",
  ]);
  await waitForSize(image, LIVE_PAGES * 4096 + 4);
  return sim;
}

Deno.test({
  name: "ssh via=agent: a capture over the real sshd passes ringdump verify",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      // In /dev/shm, as on a board where the image stands for /dev/mem (a temp dir elsewhere).
      const shm = await Deno.stat("/dev/shm").then(() => "/dev/shm", () => tmp);
      const image = `${shm}/ringdump-agent-ssh-${crypto.randomUUID().slice(0, 8)}.img`;
      const sim = await startSim(image, LIVE_RATE);
      try {
        const out = `${tmp}/agent.bin`;
        const cap = await ringdump([
          "capture",
          "--backend",
          sshd.url({ via: "agent", agent: REMOTE_RINGDUMP, mem: image, origin: "0" }),
          ...GEOMETRY,
          "--period",
          "20ms",
          "--duration",
          "4s",
          "--no-progress",
          "--out",
          out,
        ]);
        assert.equal(cap.code, 0, cap.stderr);
        assert.match(cap.stderr, /captured .* 0 pages lost/);
        // 4 s of the live writer: the ring laps, the counter wraps
        assert.ok((await Deno.stat(out)).size >= LIVE_RATE_BYTES * 3.5, cap.stderr);
        const v = await ringdump(["verify", out]);
        assert.equal(v.code, 0, v.stderr);
        assert.match(new TextDecoder().decode(v.stdout), /contiguous/);
      } finally {
        sim.kill("SIGTERM");
        await finish(sim);
        await Deno.remove(image).catch(() => {});
      }
    }),
});

Deno.test({
  name: "ssh via=agent: a missing agent command is a clear error (exit 3), no stack trace",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const cap = await ringdump([
        "capture",
        "--backend",
        sshd.url({ via: "agent", agent: "/nonexistent/ringdump", mem: `${tmp}/none.img` }),
        ...GEOMETRY,
        "--duration",
        "1s",
        "--out",
        `${tmp}/none.bin`,
      ]);
      assert.equal(cap.code, 3, cap.stderr);
      assert.match(
        cap.stderr,
        /agent went away before its hello; the agent said: .*(No such file|not found)/,
      );
      assert.match(cap.stderr, /ringdump deploy/);
      assert.doesNotMatch(cap.stderr, /\n\s+at /);
    }),
});

Deno.test({
  name: "ssh via=agent: the agent killed mid-capture ends it with exit 3; the data verifies",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const image = `${tmp}/drop.img`;
      const sim = await startSim(image, LIVE_RATE);
      try {
        const out = `${tmp}/drop.bin`;
        const cap = spawnRingdump([
          "capture",
          "--backend",
          sshd.url({ via: "agent", agent: REMOTE_RINGDUMP, mem: image, origin: "0" }),
          ...GEOMETRY,
          "--period",
          "20ms",
          "--duration",
          "30s",
          "--no-progress",
          "--out",
          out,
        ]);
        // Wait until data flows, then cut every connection.
        await waitForSize(out, 128 * 1024);
        // Kill the agent on the "board" (found by its unique image path; /proc is not
        // readable under the task's permissions, ps is).
        const ps = await new Deno.Command("ps", { args: ["-eo", "pid=,args="] }).output();
        const agents = new TextDecoder().decode(ps.stdout).split("\n")
          .map((l) => l.trim().match(/^(\d+) (.*)$/)).filter((m) => m !== null)
          .filter((m) =>
            m![2].startsWith(Deno.execPath()) && m![2].includes(` agent --mem ${image}`)
          )
          .map((m) => Number(m![1]));
        if (agents.length !== 1) {
          cap.kill("SIGKILL");
          assert.fail(
            `found ${agents.length} agents; the capture said: ${(await finish(cap)).stderr}`,
          );
        }
        Deno.kill(agents[0], "SIGKILL");
        const t0 = performance.now();
        const r = await finish(cap);
        assert.ok(performance.now() - t0 < 15_000, "the capture ended promptly");
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, /ringdump: ssh\+agent: .*the agent went away/);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        const v = await ringdump(["verify", out]);
        assert.equal(v.code, 0, v.stderr);
      } finally {
        sim.kill("SIGTERM");
        await finish(sim);
      }
    }),
});

Deno.test({
  name: "ringdump deploy: uploads, renames into place, runs --version there and prints it",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const binary = `${tmp}/fake-ringdump`;
      await Deno.writeTextFile(
        binary,
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "fake-ringdump 9.9.9 ($(uname -m))"; fi\n',
      );
      const dir = `${tmp}/board-bin`;
      await Deno.mkdir(dir);
      const to = `${dir}/ringdump`;
      await Deno.writeTextFile(to, "old version\n"); // replaced in one step
      const r = await ringdump(["deploy", sshd.url(), "--binary", binary, "--to", to]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(new TextDecoder().decode(r.stdout), /^fake-ringdump 9\.9\.9 \(\S+\)\n$/);
      assert.match(r.stderr, new RegExp(`deployed .*fake-ringdump .* to .*:${to}; it says:`));
      assert.equal(await Deno.readTextFile(to), await Deno.readTextFile(binary));
      assert.equal((await Deno.stat(to)).mode! & 0o777, 0o755);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ringdump"]);
    }),
});

Deno.test({
  name: "ringdump deploy: a directory that is not there is exit 3 with the reason; nothing left",
  ignore,
  fn: () =>
    withSshd(async (sshd) => {
      const binary = `${tmp}/fake2`;
      await Deno.writeTextFile(binary, "#!/bin/sh\necho v\n");
      const r = await ringdump([
        "deploy",
        sshd.url(),
        "--binary",
        binary,
        "--to",
        `${tmp}/no-such-dir/ringdump`,
      ]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr,
        /deploy: uploading .* failed .*No such file or directory.*does the directory exist/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      // Usage errors come before any connection.
      const u = await ringdump(["deploy", "sim:", "--binary", binary]);
      assert.equal(u.code, 2);
      assert.match(u.stderr, /not an ssh:\/\/ URL/);
      const b = await ringdump(["deploy", sshd.url(), "--binary", `${tmp}/nope`]);
      assert.equal(b.code, 2);
      assert.match(b.stderr, /--binary '.*nope' does not exist/);
      const n = await ringdump(["deploy", sshd.url(), "--to", "/tmp/x"]);
      assert.equal(n.code, 2);
      assert.match(n.stderr, /runs under deno.*--binary/);
    }),
});
