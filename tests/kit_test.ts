/**
 * tools/kit.ts and the x86_64 kit it builds (issue 14): the pure parts, then
 * the real kit copied alone into an empty directory, with an empty HOME and
 * DENO_DIR, no network, and only busybox's tools where the launcher runs.
 */
import assert from "node:assert/strict";
import {
  KIT_BLOCK,
  KIT_RUNTIMES,
  launcher,
  nearestVersion,
  parseKitHeader,
  tarEntry,
} from "../tools/kit.ts";
import { COMPILE_PERMISSIONS } from "../tools/compile.ts";
import denoJson from "../deno.json" with { type: "json" };
import { buildKit, finishKit, runKit, spawnKit, waitForSize } from "../testing/kit.ts";
import { BUSYBOX, ignoreUnless, requireTools } from "../testing/sshd.ts";

const root = new URL("../", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "ringdump-kit-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

Deno.test("kit: the nearest published runtime version", () => {
  const published = ["2.2.3", "2.2.11", "2.3.7", "2.7.7", "2.9.3", "2.9.4", "2.9.5", "2.9.6"];
  assert.equal(nearestVersion("2.9.6", published), "2.9.6");
  assert.equal(nearestVersion("2.9.7", published), "2.9.6");
  assert.equal(nearestVersion("2.9.0", published), "2.9.3"); // later first: it has the APIs
  assert.equal(nearestVersion("2.5.0", published), "2.7.7");
  assert.equal(nearestVersion("2.8.1", published), "2.9.3");
  assert.equal(nearestVersion("2.2.10", published), "2.2.11"); // numerically, not as text
  assert.equal(nearestVersion("3.0.0", published), "2.9.6"); // no 3.x: the newest earlier
  assert.equal(nearestVersion("1.46.0", published), "2.2.3"); // nothing earlier: the oldest later
  assert.equal(nearestVersion("2.9.7", ["2.9.8-rc.1", "2.9.1"]), "2.9.1"); // never a pre-release
  assert.equal(nearestVersion("2.9.7", []), undefined);
  assert.deepEqual(Object.keys(KIT_RUNTIMES), ["x86_64", "aarch64"]);
});

Deno.test("kit: a tar member without end-of-archive, followed by another tar, is one archive", async () => {
  const data = new TextEncoder().encode("console.log(1);\n".repeat(100));
  const member = tarEntry("ringdump.js", data);
  assert.equal(member.length, 512 + Math.ceil(data.length / 512) * 512);
  const dir = `${tmp}/tar`;
  await Deno.mkdir(`${dir}/in/package`, { recursive: true });
  await Deno.writeTextFile(`${dir}/in/package/deno`, "runtime\n");
  const other = await new Deno.Command("tar", {
    args: ["--format=ustar", "-cf", "-", "-C", `${dir}/in`, "package/deno"],
    stdout: "piped",
  }).output();
  const archive = new Uint8Array(member.length + other.stdout.length);
  archive.set(member);
  archive.set(other.stdout, member.length);
  await Deno.writeFile(`${dir}/a.tar`, archive);
  for (const tar of ["tar", BUSYBOX]) {
    const args = tar === BUSYBOX ? ["tar"] : [];
    const out = `${dir}/out-${tar.split("/").at(-1)}`;
    await Deno.mkdir(out);
    const x = await new Deno.Command(tar, { args: [...args, "-xf", `${dir}/a.tar`, "-C", out] })
      .output();
    assert.equal(x.code, 0, new TextDecoder().decode(x.stderr));
    assert.deepEqual(await Deno.readFile(`${out}/ringdump.js`), data);
    assert.equal(await Deno.readTextFile(`${out}/package/deno`), "runtime\n");
  }
  assert.throws(() => tarEntry("x".repeat(101), data), /too long/);
});

Deno.test("kit: the launcher is the template filled in, in whole blocks, with the binary's permissions", async () => {
  const template = await Deno.readTextFile(new URL("../tools/kit_launcher.sh", import.meta.url));
  const sha256 = "0123456789abcdef".repeat(4);
  const sh = launcher({
    template,
    version: "1.2.3",
    arch: "aarch64",
    runtimePackage: "@deno/linux-arm64-glibc",
    denoVersion: "2.9.6",
    sha256,
    unpackedBytes: 86e6,
    permissions: COMPILE_PERMISSIONS,
  });
  assert.equal(sh.length % KIT_BLOCK, 0);
  const text = new TextDecoder().decode(sh);
  assert.doesNotMatch(text, /@[A-Z_0-9]+@/, "every placeholder is filled");
  const header = parseKitHeader(sh);
  assert.deepEqual(header, {
    version: "1.2.3",
    arch: "aarch64",
    sha256,
    blocks: sh.length / KIT_BLOCK,
  });
  const exec = text.match(/exec "\$kit_dir\/package\/deno" run ([^\n]*)\\\n\s+([^\n]*)\n/);
  assert.ok(exec, text);
  const flags = `${exec[1]} ${exec[2]}`.split(/\s+/).filter((f) => f.startsWith("--allow"));
  assert.deepEqual(flags, COMPILE_PERMISSIONS);
  assert.match(text, /kit_name=kit-0123456789abcdef\n/);
  assert.match(text, /\n\n\n$/, "padded with newlines after the last command");
  // sh parses it (dash, and busybox's ash as on a board)
  await Deno.writeFile(`${tmp}/launcher.sh`, sh);
  for (const shell of [["sh", "-n"], [BUSYBOX, "sh", "-n"]]) {
    const r = await new Deno.Command(shell[0], { args: [...shell.slice(1), `${tmp}/launcher.sh`] })
      .output();
    assert.equal(r.code, 0, `${shell.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
  assert.equal(parseKitHeader(new TextEncoder().encode("#!/bin/sh\necho hi\n")), undefined);
  assert.throws(
    () =>
      launcher({
        template,
        version: "1",
        arch: "x",
        runtimePackage: "p",
        denoVersion: "2",
        sha256: "zz",
        unpackedBytes: 1,
        permissions: [],
      }),
    /sha256/,
  );
});

Deno.test("deno task kit: a bad target or argument is one line, exit 1", async () => {
  for (
    const [args, re] of [
      [
        ["--target", "sparc"],
        /^deno task kit: unknown target 'sparc'; use x86_64, aarch64 or all$/,
      ],
      [["--frobnicate"], /^deno task kit: unknown argument '--frobnicate'; see --help$/],
    ] as const
  ) {
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["task", "kit", ...args],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(res.code, 1);
    const lines = new TextDecoder().decode(res.stderr).split("\n").filter((l) =>
      l !== "" && !l.startsWith("Task ")
    );
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], re);
  }
});

// ---------------------------------------------------------------------------
// The x86_64 kit, for real
// ---------------------------------------------------------------------------

const x86 = Deno.build.arch === "x86_64" ? await buildKit("x86_64") : {
  missing: "this machine is not x86_64",
};
const ignoreX86 = ignoreUnless(x86.missing);

/** Busybox as the only tools the launcher finds (a board's userland). */
async function busyboxPath(): Promise<string> {
  const bin = `${tmp}/busybox-bin`;
  if (await Deno.stat(bin).then(() => true, () => false)) return bin;
  await Deno.mkdir(bin);
  for (const applet of ["sh", "dd", "tar", "mkdir", "rm", "mv", "id", "sha256sum", "cat"]) {
    await Deno.symlink(BUSYBOX, `${bin}/${applet}`);
  }
  return bin;
}

/** An empty directory holding only a copy of the kit, an empty HOME and DENO_DIR. */
async function emptyBoard(
  name: string,
): Promise<{ dir: string; kit: string; env: Record<string, string> }> {
  requireTools(x86.missing);
  const dir = `${tmp}/${name}`;
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await Deno.mkdir(`${dir}/home`);
  await Deno.mkdir(`${dir}/deno_dir`);
  const kit = `${dir}/run/ringdump-x86_64`;
  await Deno.copyFile(x86.path!, kit);
  return {
    dir,
    kit,
    env: { HOME: `${dir}/home`, DENO_DIR: `${dir}/deno_dir`, PATH: await busyboxPath() },
  };
}

async function listTree(dir: string, depth = 2): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(e.name);
    if (e.isDirectory && depth > 1) {
      for (const sub of await listTree(`${dir}/${e.name}`, depth - 1)) out.push(`${e.name}/${sub}`);
    }
  }
  return out.sort();
}

Deno.test({
  name: "x86_64 kit alone, empty HOME and DENO_DIR, no network: --version, sim, capture, verify",
  ignore: ignoreX86,
  fn: async () => {
    const { dir, kit, env } = await emptyBoard("alone");
    const run = { cwd: `${dir}/run`, env, offline: true };
    const v = await runKit(kit, ["--version"], run);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `${denoJson.version}\n`);
    assert.equal(v.stderr, "", "a first run that is not on a terminal says nothing");
    // The one thing written outside the working directory: the unpacked kit, under HOME.
    const home = await listTree(`${dir}/home`, 4);
    assert.ok(home.some((p) => /^\.cache\/ringdump\/kit-[0-9a-f]{16}\/ok$/.test(p)), home.join());
    assert.deepEqual(await listTree(`${dir}/deno_dir`), [], "DENO_DIR is not touched");

    // A live device: `ringdump sim` (the kit) writes the image; the kit captures it and verifies.
    const geometry = ["--pages", "64", "--counter-wrap", "0x100"];
    const sim = await spawnKit(kit, [
      "sim",
      "--image",
      "ring.img",
      "--origin",
      "0",
      ...geometry,
      "--rate",
      "2MiB",
      "--duration",
      "60s",
      "--quiet",
    ], run);
    try {
      await waitForSize(`${dir}/run/ring.img`, 64 * 4096 + 4, 30_000);
      const cap = await runKit(kit, [
        "capture",
        "--backend",
        "devmem:ring.img?origin=0",
        ...geometry,
        "--period",
        "10ms",
        "--duration",
        "3s",
        "--out",
        "c.bin",
      ], run);
      assert.equal(cap.code, 0, cap.stderr);
      assert.match(cap.stderr, /captured .* 0 pages lost/);
      assert.ok((await Deno.stat(`${dir}/run/c.bin`)).size >= 4 * 1024 * 1024, cap.stderr);
    } finally {
      sim.kill("SIGTERM");
      const s = await finishKit(sim);
      assert.equal(s.code, 0, s.stderr);
    }
    const ver = await runKit(kit, ["verify", "c.bin"], run);
    assert.equal(ver.code, 0, ver.stderr);
    assert.match(ver.stdout, /contiguous/);
    assert.deepEqual(await listTree(`${dir}/run`), ["c.bin", "ring.img", "ringdump-x86_64"]);
    assert.deepEqual(await listTree(`${dir}/deno_dir`), [], "DENO_DIR is not touched");
  },
});

Deno.test({
  name: "x86_64 kit: concurrent first runs share one unpacked copy; a damaged kit says so",
  ignore: ignoreX86,
  fn: async () => {
    const { dir, kit, env } = await emptyBoard("concurrent");
    const run = { cwd: `${dir}/run`, env };
    const runs = await Promise.all([0, 1, 2, 3].map(() => runKit(kit, ["--version"], run)));
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${denoJson.version}\n`);
    }
    const cache = `${dir}/home/.cache/ringdump`;
    const entries = await listTree(cache, 1);
    assert.equal(entries.length, 1, `one kit directory, no leftovers: ${entries}`);
    assert.deepEqual(
      (await listTree(`${cache}/${entries[0]}`, 1)).filter((e) => e !== "deno_dir"),
      ["ok", "package", "ringdump.js"],
    );

    // One byte changed in the payload: refused before anything runs, with the reason.
    const bytes = await Deno.readFile(kit);
    bytes[bytes.length - 1_000_000] ^= 0xff;
    const bad = `${dir}/run/damaged`;
    await Deno.writeFile(bad, bytes, { mode: 0o755 });
    // (In a cache of its own: where the kit is unpacked already, its payload is not read again.)
    const fresh = { ...env, RINGDUMP_KIT_CACHE: `${dir}/fresh` };
    for (const path of [env.PATH, "/usr/bin:/bin"]) { // busybox's sha256sum and GNU's
      const r = await runKit(bad, ["--version"], {
        cwd: `${dir}/run`,
        env: { ...fresh, PATH: path },
      });
      assert.equal(r.code, 126, r.stderr);
      assert.match(
        r.stderr,
        /^ringdump kit: .*damaged \(its payload's sha256 is not the one it was built with\); copy it again\n$/,
      );
      assert.equal(r.stdout, "");
    }
    // Without sha256sum, tar's CRC check catches it.
    const noSum = `${dir}/nosum-bin`;
    await Deno.mkdir(noSum);
    for (const a of ["sh", "dd", "tar", "mkdir", "rm", "mv", "id"]) {
      await Deno.symlink(BUSYBOX, `${noSum}/${a}`);
    }
    const r = await runKit(bad, ["--version"], {
      cwd: `${dir}/run`,
      env: { ...fresh, PATH: noSum },
    });
    assert.equal(r.code, 126, r.stderr);
    assert.match(r.stderr, /^ringdump kit: .*damaged \(tar: .*\); copy it again\n$/);
    assert.deepEqual(await listTree(`${dir}/fresh`), [], "nothing half-unpacked is left");
    // The good copy still runs from the cache it shares with the others.
    const again = await runKit(kit, ["--version"], run);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await listTree(cache, 1), entries);
  },
});

Deno.test({
  name:
    "x86_64 kit: an unwritable cache is one line; RINGDUMP_KIT_CACHE; no HOME: a private dir in TMPDIR",
  ignore: ignoreX86,
  fn: async () => {
    const { dir, kit, env } = await emptyBoard("cache");
    const run = {
      cwd: `${dir}/run`,
      env: { ...env, RINGDUMP_KIT_CACHE: `${dir}/run/ringdump-x86_64/x` },
    };
    const r = await runKit(kit, ["--version"], run);
    assert.equal(r.code, 126, r.stderr);
    assert.match(
      r.stderr,
      /^ringdump kit: cannot create or write .*\/x \(RINGDUMP_KIT_CACHE=.*\)\n$/,
    );
    const ok = await runKit(kit, ["--version"], {
      ...run,
      env: { ...env, RINGDUMP_KIT_CACHE: `${dir}/cache` },
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await listTree(`${dir}/cache`, 1)).length, 1);
    assert.deepEqual(await listTree(`${dir}/home`), [], "HOME is not used then");

    // No HOME: a directory of this user's own under TMPDIR, mode 700 ...
    const { HOME: _, ...noHomeEnv } = env;
    const noHome = { ...noHomeEnv, TMPDIR: `${dir}/tmpdir` };
    await Deno.mkdir(`${dir}/tmpdir`);
    const t = await runKit(kit, ["--version"], { cwd: `${dir}/run`, env: noHome });
    assert.equal(t.code, 0, t.stderr);
    const [own] = await listTree(`${dir}/tmpdir`, 1);
    assert.match(own, new RegExp(`^ringdump-kit-${Deno.uid()}$`));
    assert.equal((await Deno.stat(`${dir}/tmpdir/${own}`)).mode! & 0o777, 0o700);
    // ... and never one that is a symlink planted there (to another user's directory).
    const planted = `${dir}/tmpdir2`;
    await Deno.mkdir(`${planted}/elsewhere`, { recursive: true });
    await Deno.symlink(`${planted}/elsewhere`, `${planted}/ringdump-kit-${Deno.uid()}`);
    const p = await runKit(kit, ["--version"], {
      cwd: `${dir}/run`,
      env: { ...noHome, TMPDIR: planted },
    });
    assert.equal(p.code, 126, p.stderr);
    assert.match(
      p.stderr,
      /^ringdump kit: HOME is not set; .*ringdump-kit-\d+ is not this user's; set RINGDUMP_KIT_CACHE to a writable directory\n$/,
    );
    assert.deepEqual(await listTree(`${planted}/elsewhere`), []);
  },
});

Deno.test({
  name: "x86_64 kit: exit codes and Ctrl-C pass through (exec: ringdump is the process)",
  ignore: ignoreX86,
  fn: async () => {
    const { dir, kit, env } = await emptyBoard("signals");
    const run = { cwd: `${dir}/run`, env };
    const usage = await runKit(kit, ["capture", "--pages", "0"], run);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /^ringdump: /);
    await Deno.writeFile(`${dir}/run/noise.bin`, new Uint8Array(8192).fill(7));
    const v = await runKit(kit, ["verify", "noise.bin"], run);
    assert.equal(v.code, 1, v.stderr);
    // `--out -`: stdout is the kit's own
    const piped = await runKit(kit, [
      "capture",
      "--backend",
      "sim:?pattern=counter&rate=512KiB", // 2 s of slack in the default ring
      "--duration",
      "1s",
      "--out",
      "-",
    ], run);
    assert.equal(piped.code, 0, piped.stderr);
    const bytes = piped.stdoutBytes.length;
    assert.ok(bytes > 256 * 1024, `${bytes} bytes on stdout`);

    const out = `${dir}/run/int.bin`;
    const child = await spawnKit(kit, [
      "capture",
      "--backend",
      "sim:?pattern=counter&rate=512KiB", // 2 s of slack in the default ring
      "--period",
      "20ms",
      "--duration",
      "120s",
      "--out",
      out,
    ], run);
    await waitForSize(out, 256 * 1024, 60_000);
    // The launcher exec'd the runtime: the kit's pid is ringdump itself.
    const exe = await new Deno.Command("readlink", { args: [`/proc/${child.pid}/exe`] }).output();
    assert.match(new TextDecoder().decode(exe.stdout), /\/kit-[0-9a-f]{16}\/package\/deno\n$/);
    Deno.kill(child.pid, "SIGINT");
    const res = await finishKit(child);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /captured .* 0 pages lost/);
    const ver = await runKit(kit, ["verify", out], run);
    assert.equal(ver.code, 0, ver.stderr);
  },
});

Deno.test({
  name: "x86_64 kit on another CPU: one line naming the kit to use; on 32-bit ARM: via=dd",
  ignore: ignoreX86,
  fn: async () => {
    const { dir, kit, env } = await emptyBoard("cpu");
    for (
      const [machine, re] of [
        ["armv7l", /this board is armv7l \(32-bit ARM\), for which Deno has no build: .*via=dd/],
        ["riscv64", /this machine is riscv64 \(uname -m\): use ringdump-riscv64/],
      ] as const
    ) {
      const fake = `${dir}/uname-${machine}`;
      await Deno.mkdir(fake);
      await Deno.writeTextFile(`${fake}/uname`, `#!/bin/sh\necho ${machine}\n`, { mode: 0o755 });
      const r = await runKit(kit, ["--version"], {
        cwd: `${dir}/run`,
        env: { ...env, PATH: `${fake}:${env.PATH}` },
      });
      assert.equal(r.code, 126, r.stderr);
      assert.match(r.stderr, /^ringdump kit: this kit is for x86_64; /);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.split("\n").length, 2, "one line");
    }
    assert.deepEqual(await listTree(`${dir}/home`, 4), [".cache", ".cache/ringdump"]);
  },
});
