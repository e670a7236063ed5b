/**
 * The kits on a "board" (issue 14): the aarch64 kit run as an ordinary
 * executable through qemu-user and binfmt_misc, and `ringdump deploy` of each
 * kit to the real test sshd (testing/sshd.ts) followed by an
 * `ssh://...?via=agent` capture whose agent is the deployed kit. Emulation is
 * slow (an aarch64 ringdump takes seconds to start): rings and periods are
 * generous and nothing here races a clock.
 */
import assert from "node:assert/strict";
import { finish, ringdump, spawnRingdump } from "../../testing/run_cli.ts";
import {
  ignoreUnless,
  requireTools,
  type Sshd,
  sshMissing,
  startSshd,
} from "../../testing/sshd.ts";
import { aarch64Missing, buildKit, type KitBuild, runKit, waitForSize } from "../../testing/kit.ts";
import denoJson from "../../deno.json" with { type: "json" };

const tmp = await Deno.makeTempDir({ prefix: "ringdump-kit-e2e-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const noArm = await aarch64Missing();
const arm: KitBuild = await buildKit("aarch64");
const x86: KitBuild = Deno.build.arch === "x86_64"
  ? await buildKit("x86_64")
  : { missing: "this machine is not x86_64" };
const noSsh = await sshMissing();

const both = (...m: (string | undefined)[]) =>
  m.filter((x) => x !== undefined).join("; ") || undefined;
const armMissing = both(noArm, arm.missing);

/** A live device: `ringdump sim` (this checkout) writing the counter pattern into `image`. */
async function startSim(
  image: string,
  geometry: string[],
  rate: string,
): Promise<Deno.ChildProcess> {
  const sim = spawnRingdump([
    "sim",
    "--image",
    image,
    "--origin",
    "0",
    ...geometry,
    "--rate",
    rate,
    "--duration",
    "600s",
    "--quiet",
  ]);
  const pages = Number(geometry[geometry.indexOf("--pages") + 1]);
  await waitForSize(image, pages * 4096 + 4, 60_000);
  return sim;
}

async function stopSim(sim: Deno.ChildProcess): Promise<void> {
  sim.kill("SIGTERM");
  const r = await finish(sim);
  assert.equal(r.code, 0, r.stderr);
}

async function verify(path: string): Promise<void> {
  const v = await ringdump(["verify", path]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(new TextDecoder().decode(v.stdout), /contiguous/);
}

/** A fresh image path, in /dev/shm as on a board where it stands for /dev/mem. */
async function imagePath(name: string): Promise<string> {
  const shm = await Deno.stat("/dev/shm").then(() => "/dev/shm", () => tmp);
  return `${shm}/ringdump-kit-e2e-${name}-${crypto.randomUUID().slice(0, 8)}.img`;
}

Deno.test({
  name:
    "aarch64 kit through qemu (binfmt): --version, a devmem and a pixeldump capture of a live sim that verify",
  ignore: ignoreUnless(armMissing),
  fn: async () => {
    requireTools(armMissing);
    const home = `${tmp}/arm-home`;
    await Deno.mkdir(home);
    const run = { cwd: tmp, env: { HOME: home } };
    const v = await runKit(arm.path!, ["--version"], run);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `${denoJson.version}\n`);
    // It really is the aarch64 runtime that ran.
    const kitDir = (await Array.fromAsync(Deno.readDir(`${home}/.cache/ringdump`)))[0].name;
    const file = await new Deno.Command("file", {
      args: ["-bL", `${home}/.cache/ringdump/${kitDir}/package/deno`],
      stdout: "piped",
    }).output().then((o) => new TextDecoder().decode(o.stdout), () => "");
    if (file !== "") assert.match(file, /ARM aarch64/);

    const geometry = ["--pages", "256", "--counter-wrap", "0x10000"]; // a 1 MiB ring
    const image = await imagePath("arm");
    const sim = await startSim(image, geometry, "256KiB"); // 4 s to go round the ring
    try {
      const out = `${tmp}/arm.bin`;
      const cap = await runKit(arm.path!, [
        "capture",
        "--backend",
        `devmem:${image}?origin=0`,
        ...geometry,
        "--period",
        "50ms",
        "--duration",
        "5s",
        "--out",
        out,
      ], run);
      assert.equal(cap.code, 0, cap.stderr);
      assert.match(cap.stderr, /captured .* 0 pages lost/);
      assert.ok((await Deno.stat(out)).size >= 512 * 1024, cap.stderr);
      await verify(out);
      // The pixeldump backend: its commands started by the aarch64 runtime
      // through posix_spawnp (backends/spawn.ts), the shell emulators reading the image.
      const pd = `${tmp}/arm-pixeldump.bin`;
      const emu = new URL("../../testing/bin/", import.meta.url).pathname;
      const cap2 = await runKit(arm.path!, [
        "capture",
        "--backend",
        `pixeldump:?bin=${emu}pixeldump&reg=${emu}devmem`,
        ...geometry,
        "--period",
        "100ms",
        "--duration",
        "3s",
        "--out",
        pd,
      ], { ...run, env: { ...run.env, RINGDUMP_IMAGE: image, RINGDUMP_IMAGE_ORIGIN: "0" } });
      assert.equal(cap2.code, 0, cap2.stderr);
      assert.match(cap2.stderr, /captured .* 0 pages lost/);
      assert.ok((await Deno.stat(pd)).size >= 256 * 1024, cap2.stderr);
      await verify(pd);
    } finally {
      await stopSim(sim);
      await Deno.remove(image).catch(() => {});
    }
  },
});

async function withSshd(fn: (sshd: Sshd) => Promise<void>): Promise<void> {
  const sshd = await startSshd();
  try {
    await fn(sshd);
  } finally {
    await sshd.stop();
  }
}

/** `ringdump deploy` (this checkout) of `kit` to the board, then a via=agent capture through it. */
async function deployAndCapture(
  sshd: Sshd,
  kit: string,
  options: {
    name: string;
    rate: string;
    period: string;
    duration: string;
    minBytes: number;
    agentTimeout?: string;
  },
): Promise<void> {
  const to = `${sshd.dir}/home/bin/ringdump`;
  await Deno.mkdir(`${sshd.dir}/home/bin`, { recursive: true });
  const d = await ringdump(["deploy", sshd.url(), "--binary", kit, "--to", to]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(new TextDecoder().decode(d.stdout), `${denoJson.version}\n`);
  assert.match(d.stderr, /deployed .* \([\d.]+ MiB\) to .*; it says:/);
  assert.deepEqual(await Deno.readFile(to), await Deno.readFile(kit));

  const geometry = ["--pages", "256", "--counter-wrap", "0x10000"];
  const image = await imagePath(options.name);
  const sim = await startSim(image, geometry, options.rate);
  try {
    const out = `${tmp}/${options.name}.bin`;
    const cap = await ringdump([
      "capture",
      "--backend",
      sshd.url({
        via: "agent",
        agent: to,
        mem: image,
        origin: "0",
        ...(options.agentTimeout ? { agent_timeout: options.agentTimeout } : {}),
      }),
      ...geometry,
      "--period",
      options.period,
      "--duration",
      options.duration,
      "--no-progress",
      "--out",
      out,
    ]);
    assert.equal(cap.code, 0, cap.stderr);
    assert.match(cap.stderr, /captured .* 0 pages lost/);
    assert.ok((await Deno.stat(out)).size >= options.minBytes, cap.stderr);
    await verify(out);
  } finally {
    await stopSim(sim);
    await Deno.remove(image).catch(() => {});
  }
}

Deno.test({
  name: "ringdump deploy of the x86_64 kit to the sshd board, then via=agent through it verifies",
  ignore: ignoreUnless(both(noSsh, x86.missing)),
  fn: () => {
    requireTools(both(noSsh, x86.missing));
    return withSshd(async (sshd) => {
      await deployAndCapture(sshd, x86.path!, {
        name: "x86",
        rate: "2MiB",
        period: "10ms",
        duration: "3s",
        minBytes: 4 * 1024 * 1024,
      });
      // The kit deploys itself when no --binary is given.
      const home = `${tmp}/x86-deployer-home`;
      await Deno.mkdir(home);
      const again = `${sshd.dir}/home/bin/ringdump-again`;
      const d = await runKit(x86.path!, ["deploy", sshd.url(), "--to", again], {
        cwd: tmp,
        env: { HOME: home },
      });
      assert.equal(d.code, 0, d.stderr);
      assert.equal(d.stdout, `${denoJson.version}\n`);
      assert.deepEqual(await Deno.readFile(again), await Deno.readFile(x86.path!));
    });
  },
});

Deno.test({
  name: "ringdump deploy of the aarch64 kit to the sshd board (qemu there), via=agent verifies",
  ignore: ignoreUnless(both(noSsh, armMissing)),
  fn: () => {
    requireTools(both(noSsh, armMissing));
    return withSshd((sshd) =>
      deployAndCapture(sshd, arm.path!, {
        name: "arm-agent",
        rate: "256KiB",
        period: "50ms",
        duration: "5s",
        minBytes: 512 * 1024,
        // An emulated V8 starting on 2 loaded cores has taken 15 to 50 s to say hello.
        agentTimeout: "180s",
      })
    );
  },
});

Deno.test({
  name: "ssh via=agent: agent_timeout bounds the agent's start-up (exit 3 saying so)",
  ignore: ignoreUnless(noSsh),
  fn: () => {
    requireTools(noSsh);
    return withSshd(async (sshd) => {
      // An "agent" that never says hello.
      const cap = await ringdump([
        "capture",
        "--backend",
        sshd.url({ via: "agent", agent: "sleep 6; :", agent_timeout: "2s", mem: "/x" }),
        "--pages",
        "64",
        "--duration",
        "1s",
        "--out",
        `${tmp}/slow.bin`,
      ]);
      assert.equal(cap.code, 3, cap.stderr);
      assert.match(cap.stderr, /the agent did not say hello within 2000 ms/);
      assert.doesNotMatch(cap.stderr, /\n\s+at /);
      const bad = await ringdump(["capture", "--backend", sshd.url({ agent_timeout: "soon" })]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /agent_timeout: 'soon' is not a duration/);
    });
  },
});
