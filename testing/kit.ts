/**
 * Test helper for the kits (issue 14): builds `dist/ringdump-ARCH` with the
 * real `deno task kit` (once per test module; an unchanged kit is not
 * rewritten, so later modules and runs find it up to date), tells whether
 * aarch64 executables run here (qemu-user-static, the arm64 C library,
 * binfmt_misc, which it registers when it can), and runs a kit with a clean
 * environment and, where the kernel allows it, without a network. Test tool only.
 */
import { ignoreUnless } from "./sshd.ts";

const root = new URL("../", import.meta.url).pathname;

/** A kit ready to run, or why there is none. */
export type KitBuild = { path: string; missing?: undefined } | {
  path?: undefined;
  missing: string;
};

const builds = new Map<string, Promise<KitBuild>>();

/**
 * `dist/ringdump-TARGET`, built by `deno task kit --target TARGET`. The one
 * thing that may be missing is the npm registry (for a runtime not fetched
 * yet); any other failure of the task throws.
 */
export function buildKit(target: "x86_64" | "aarch64"): Promise<KitBuild> {
  let p = builds.get(target);
  if (p === undefined) {
    p = (async (): Promise<KitBuild> => {
      const res = await new Deno.Command(Deno.execPath(), {
        args: ["task", "kit", "--target", target],
        cwd: root,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(res.stderr);
      if (res.code === 0) return { path: `${root}dist/ringdump-${target}` };
      if (/cannot reach the npm registry/.test(err)) {
        return { missing: err.split("\n").find((l) => l.startsWith("deno task kit:"))! };
      }
      throw new Error(`deno task kit --target ${target} failed:\n${err}`);
    })();
    builds.set(target, p);
  }
  return p;
}

async function sh(script: string): Promise<{ code: number; out: string }> {
  const res = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
  return { code: res.code, out: text.trim() };
}

const BINFMT = "/proc/sys/fs/binfmt_misc";
const QEMU_CONF = "/usr/lib/binfmt.d/qemu-aarch64.conf";

/**
 * Why aarch64 executables cannot run here as ordinary programs, or undefined
 * when they can. When the binfmt_misc entry is missing and this is root, it
 * mounts binfmt_misc and registers the line of {@link QEMU_CONF} (idempotent:
 * nothing is done when the entry is there).
 */
export async function aarch64Missing(): Promise<string | undefined> {
  for (
    const [file, fix] of [
      ["/usr/bin/qemu-aarch64-static", "apt-get install qemu-user-static"],
      [QEMU_CONF, "apt-get install qemu-user-static"],
      [
        "/lib/ld-linux-aarch64.so.1",
        "dpkg --add-architecture arm64 && apt-get update && apt-get install libc6:arm64",
      ],
    ]
  ) {
    if ((await sh(`test -e ${file}`)).code !== 0) return `${file} is missing (${fix})`;
  }
  const registered = async () =>
    (await sh(`grep -qx enabled ${BINFMT}/qemu-aarch64 && grep -qx enabled ${BINFMT}/status`))
      .code === 0;
  if (await registered()) return undefined;
  if (Deno.uid() !== 0) {
    return `aarch64 executables are not registered with binfmt_misc and this is not root ` +
      `(as root: mount -t binfmt_misc binfmt_misc ${BINFMT}; cat ${QEMU_CONF} > ${BINFMT}/register)`;
  }
  const setup = await sh(
    `{ [ -e ${BINFMT}/register ] || mount -t binfmt_misc binfmt_misc ${BINFMT}; } && ` +
      `{ [ -e ${BINFMT}/qemu-aarch64 ] || cat ${QEMU_CONF} > ${BINFMT}/register; } && ` +
      `{ grep -qx enabled ${BINFMT}/status || echo 1 > ${BINFMT}/status; } && ` +
      `{ grep -qx enabled ${BINFMT}/qemu-aarch64 || echo 1 > ${BINFMT}/qemu-aarch64; }`,
  );
  if (await registered()) return undefined;
  return `cannot register aarch64 executables with binfmt_misc here: ${setup.out || "no message"}`;
}

/** `ignore` for a test needing the aarch64 kit: skipped (with its reason) unless CI is set. */
export function ignoreUnlessBoth(...missing: (string | undefined)[]): boolean {
  return ignoreUnless(missing.filter((m) => m !== undefined).join("; ") || undefined);
}

let netless: Promise<string[]> | undefined;

/**
 * The argv prefix that runs a command without a network (a network namespace
 * of its own: `unshare -n`, or `unshare -rn` for a user), or `[]` with a
 * warning where the kernel allows neither.
 */
export function noNetwork(): Promise<string[]> {
  netless ??= (async () => {
    for (const prefix of [["/usr/bin/unshare", "-n"], ["/usr/bin/unshare", "-rn"]]) {
      const ok = await new Deno.Command(prefix[0], {
        args: [...prefix.slice(1), "true"],
        stdout: "null",
        stderr: "null",
      }).output().then((r) => r.success, () => false);
      if (ok) return prefix;
    }
    console.warn("kit tests: cannot unshare the network here; the kit runs with it");
    return [];
  })();
  return netless;
}

/** Output of a finished kit run. */
export interface KitResult {
  code: number;
  stdout: string;
  /** stdout as it came. */
  stdoutBytes: Uint8Array;
  stderr: string;
}

/** Options of {@linkcode runKit}. */
export interface RunKitOptions {
  /** Working directory. */
  cwd: string;
  /** The whole environment (HOME, PATH=/usr/bin:/bin unless given). */
  env: Record<string, string>;
  /** Run without a network (see {@linkcode noNetwork}). */
  offline?: boolean;
}

/** Spawns a kit with exactly `env`, stdin closed, stdout and stderr piped. */
export async function spawnKit(
  kit: string,
  args: string[],
  options: RunKitOptions,
): Promise<Deno.ChildProcess> {
  const prefix = options.offline ? await noNetwork() : [];
  const argv = [...prefix, kit, ...args];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a kit to completion (see {@linkcode spawnKit}). */
export async function runKit(
  kit: string,
  args: string[],
  options: RunKitOptions,
): Promise<KitResult> {
  return finishKit(await spawnKit(kit, args, options));
}

/** Waits for a spawned kit and collects its output. */
export async function finishKit(child: Deno.ChildProcess): Promise<KitResult> {
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stdoutBytes: out.stdout,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Resolves once `path` holds at least `bytes` (or throws after `ms`). */
export async function waitForSize(path: string, bytes: number, ms: number): Promise<void> {
  const t0 = performance.now();
  while (((await Deno.stat(path).catch(() => null))?.size ?? 0) < bytes) {
    if (performance.now() - t0 > ms) throw new Error(`${path} did not reach ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
