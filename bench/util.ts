/**
 * Helpers shared by the bench measurements: statistics, subprocesses, the
 * `ringdump` command line, a live `ringdump sim` writer, and scratch space.
 *
 * @module
 */
import { COMPILE_PERMISSIONS } from "../tools/compile.ts";
import { runCommand } from "../backends/process.ts";
import { ensureImage, imageLayout } from "../lib/sim/image.ts";
import type { RingGeometry } from "../lib/ring.ts";
import { compiledEmulators, SHELL_EMULATORS } from "../testing/emulators.ts";

/** The repository root (with a trailing slash). */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** The emulators of the board's tools that the bench's pixeldump figures run. */
export interface BenchEmulators {
  /** The pixeldump emulator. */
  readonly pixeldump: string;
  /** The devmem emulator. */
  readonly devmem: string;
  /** Compiled (testing/bin/emulators.c) or the shell scripts. */
  readonly kind: "compiled" | "shell";
  /** For the figures' notes: which, and why the shell ones when not asked for. */
  readonly note: string;
}

let emulatorChoice: "compiled" | "shell" = "compiled";
let emulators: Promise<BenchEmulators> | undefined;

/**
 * Which emulators {@linkcode benchEmulators} gives: the compiled ones (the
 * default: a board's devmem and pixeldump are compiled programs) or the
 * shell scripts (`deno task bench --shell-emulators`: 15-20 ms a run, the
 * figures of the runs before 2026-12-04T12Z).
 *
 * @example
 * ```ts ignore
 * import { chooseEmulators } from "./util.ts";
 * chooseEmulators("shell");
 * ```
 */
export function chooseEmulators(kind: "compiled" | "shell"): void {
  emulatorChoice = kind;
  emulators = undefined;
}

/**
 * The emulators of `devmem` and `pixeldump` for this run (see
 * {@linkcode chooseEmulators}); the compiled ones are built on first use,
 * and when they cannot be, the shell ones run and the note says why.
 *
 * @example
 * ```ts ignore
 * import { benchEmulators } from "./util.ts";
 * console.log((await benchEmulators()).note);
 * ```
 */
export function benchEmulators(): Promise<BenchEmulators> {
  emulators ??= (async (): Promise<BenchEmulators> => {
    const shell = (note: string): BenchEmulators => ({ ...SHELL_EMULATORS, kind: "shell", note });
    if (emulatorChoice === "shell") {
      return shell("emulators: the shell scripts (testing/bin/devmem, pixeldump)");
    }
    const built = await compiledEmulators();
    if ("problem" in built) {
      return shell(
        `emulators: the shell scripts, since the compiled ones could not be built (${
          built.problem.split("\n")[0]
        })`,
      );
    }
    return { ...built, kind: "compiled", note: "emulators: compiled (testing/bin/emulators.c)" };
  })();
  return emulators;
}

/** MiB, for rates. */
export const MIB = 1024 * 1024;

/**
 * The median of some numbers.
 *
 * @example
 * ```ts
 * import { median } from "./util.ts";
 * console.log(median([3, 1, 2])); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * `deno run` with the permissions of `deno task ringdump` (and of the
 * compiled binary), then `cli.ts` and `args`.
 *
 * @example
 * ```ts
 * import { ringdumpArgv } from "./util.ts";
 * console.log(ringdumpArgv(["--help"]).at(-1)); // "--help"
 * ```
 */
export function ringdumpArgv(args: readonly string[]): string[] {
  return [Deno.execPath(), "run", ...COMPILE_PERMISSIONS, `${ROOT}cli.ts`, ...args];
}

/** What {@linkcode run} returns. */
export interface RunResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output as text. */
  readonly stdout: string;
  /** Standard error as text. */
  readonly stderr: string;
  /** Wall time, ms. */
  readonly ms: number;
}

/**
 * Runs `argv` to completion (no shell) with the backends' `runCommand`,
 * timing it. With `stdout: "null"` its output is discarded as it comes
 * instead (a reference that streams gigabytes must not be buffered).
 *
 * @example
 * ```ts
 * import { run } from "./util.ts";
 * console.log((await run(["true"])).code); // 0
 * ```
 */
export async function run(
  argv: readonly string[],
  options: { env?: Record<string, string>; stdout?: "piped" | "null" } = {},
): Promise<RunResult> {
  const t0 = performance.now();
  if (options.stdout === "null") {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: options.env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    const ms = performance.now() - t0;
    return { code: out.code, stdout: "", stderr: new TextDecoder().decode(out.stderr), ms };
  }
  const r = await runCommand(argv, { env: options.env });
  const ms = performance.now() - t0;
  return { code: r.code, stdout: new TextDecoder().decode(r.stdout), stderr: r.stderr, ms };
}

/**
 * Runs `argv` and fails with its stderr when it exits non-zero.
 *
 * @example
 * ```ts
 * import { runOk } from "./util.ts";
 * console.log((await runOk(["echo", "hi"])).stdout); // "hi\n"
 * ```
 */
export async function runOk(
  argv: readonly string[],
  options: { env?: Record<string, string>; stdout?: "piped" | "null" } = {},
): Promise<RunResult> {
  const r = await run(argv, options);
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${r.code}: ${r.stderr.trim()}`);
  }
  return r;
}

/** Wall time and CPU seconds (user + system, its own and its children's) of a command. */
export interface CpuResult extends RunResult {
  /** CPU seconds of the command and every descendant it waited for. */
  readonly cpu: number;
}

const CPU_WRAPPER = `
import os, resource, subprocess, sys
p = subprocess.run(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("\\nBENCH_CPU %f\\n" % (r.ru_utime + r.ru_stime))
sys.exit(p.returncode)
`;

let python: Promise<string> | undefined;

/**
 * The Python interpreter itself, not a launcher in front of it: `python3` on
 * PATH may be a pyenv shim, a shell script whose own work (some 50 ms of
 * CPU) would be counted in every figure `runWithCpu` takes, and twice in
 * the Python reference's.
 *
 * @example
 * ```ts ignore
 * import { pythonBin } from "./util.ts";
 * console.log(await pythonBin()); // e.g. "/root/.pyenv/versions/3.11.7/bin/python3.11"
 * ```
 */
export function pythonBin(): Promise<string> {
  python ??= run(["python3", "-c", "import sys; print(sys.executable)"]).then((r) =>
    r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : "python3"
  );
  return python;
}

/**
 * Runs `argv` under a tiny Python wrapper that reports the CPU seconds of
 * the whole process tree (`RUSAGE_CHILDREN`: every descendant that was
 * waited for), the same way for ringdump and the reference.
 *
 * @example
 * ```ts ignore
 * import { runWithCpu } from "./util.ts";
 * console.log((await runWithCpu(["true"])).cpu >= 0); // true
 * ```
 */
export async function runWithCpu(
  argv: readonly string[],
  options: { env?: Record<string, string> } = {},
): Promise<CpuResult> {
  const r = await run([await pythonBin(), "-c", CPU_WRAPPER, ...argv], options);
  const m = r.stderr.match(/\nBENCH_CPU ([0-9.]+)\n?$/);
  if (!m) throw new Error(`${argv.join(" ")}: no CPU figure (exit ${r.code}): ${r.stderr}`);
  return { ...r, stderr: r.stderr.slice(0, m.index), cpu: Number(m[1]) };
}

/**
 * A scratch directory, removed by `remove()`.
 *
 * @example
 * ```ts
 * import { scratchDir } from "./util.ts";
 * const d = await scratchDir("/tmp");
 * await d.remove();
 * ```
 */
export async function scratchDir(
  parent: string,
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await Deno.makeTempDir({ dir: parent, prefix: "ringdump-bench-" });
  return { path, remove: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** Where large ring images go: /dev/shm (memory) when present, else the temp directory. */
export function shmDir(): string {
  try {
    if (Deno.statSync("/dev/shm").isDirectory) return "/dev/shm";
  } catch {
    // no /dev/shm
  }
  return Deno.env.get("TMPDIR") ?? "/tmp";
}

/** The work disk: a directory on the disk the repository lives on. */
export function workDiskDir(): string {
  return ROOT;
}

/**
 * The geometry flags of `ringdump capture` and `ringdump sim` (and of
 * bench/reference_dumper.py) for `g`.
 *
 * @example
 * ```ts
 * import { geometryFlags } from "./util.ts";
 * import { ringGeometry } from "../lib/ring.ts";
 * console.log(geometryFlags(ringGeometry({ base: 0n, pageSize: 4096, pages: 16 })).slice(0, 2)); // ["--base", "0x0"]
 * ```
 */
export function geometryFlags(g: RingGeometry): string[] {
  const hexa = (v: bigint | number) => `0x${v.toString(16)}`;
  return [
    "--base",
    hexa(g.base),
    "--page-size",
    String(g.pageSize),
    "--pages",
    String(g.pages),
    "--counter",
    hexa(g.counterAddress),
    "--counter-wrap",
    hexa(g.counterWrap),
  ];
}

/** A running `ringdump sim` writer. */
export interface SimWriter {
  /** Its process id. */
  readonly pid: number;
  /** Stops it (SIGTERM) and waits for it; idempotent. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startSim}. */
export interface SimOptions {
  /** The memory image (created or grown to fit). */
  image: string;
  /** The ring. */
  geometry: RingGeometry;
  /** Bytes per second written. */
  rate: number;
  /** Stop by itself after this many ms (a safety net; {@linkcode SimWriter.stop} ends it). */
  duration: number;
  /** Pages per hardware write; default 1. */
  burst?: number;
}

async function readCounter(path: string, offset: number): Promise<number> {
  const f = await Deno.open(path, { read: true });
  try {
    const b = new Uint8Array(4);
    await f.seek(offset, Deno.SeekMode.Start);
    let n = 0;
    while (n < 4) {
      const r = await f.read(b.subarray(n));
      if (r === null) break;
      n += r;
    }
    return new DataView(b.buffer).getUint32(0, true);
  } finally {
    f.close();
  }
}

/**
 * Starts `ringdump sim` as the live writer into `image` (origin 0) and returns
 * once the counter register has started to move.
 *
 * @example
 * ```ts ignore
 * import { startSim } from "./util.ts";
 * import { ringGeometry } from "../lib/ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 64 });
 * const sim = await startSim({ image: "/dev/shm/x.img", geometry, rate: 1 << 20, duration: 5000 });
 * await sim.stop();
 * ```
 */
export async function startSim(options: SimOptions): Promise<SimWriter> {
  const g = options.geometry;
  const layout = imageLayout(g, { origin: 0n });
  await ensureImage(options.image, layout);
  const counterAt = Number(g.counterAddress);
  // Zero the counter so "it moved" is seen.
  const f = await Deno.open(options.image, { write: true });
  await f.seek(counterAt, Deno.SeekMode.Start);
  await f.write(new Uint8Array(4));
  f.close();
  const argv = ringdumpArgv([
    "sim",
    "--image",
    options.image,
    "--origin",
    "0",
    ...geometryFlags(g),
    "--rate",
    String(Math.max(1, Math.round(options.rate))),
    "--burst",
    String(options.burst ?? 1),
    "--duration",
    `${Math.ceil(options.duration)}ms`,
    "--quiet",
  ]);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const t0 = performance.now();
  while ((await readCounter(options.image, counterAt)) === 0) {
    if (exited) throw new Error(`ringdump sim exited at start: ${await stderr}`);
    if (performance.now() - t0 > 30_000) {
      child.kill("SIGKILL");
      throw new Error("ringdump sim did not start writing within 30 s");
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  let stopped = false;
  return {
    pid: child.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // exited meanwhile
        }
      }
      await status;
      await stderr;
    },
  };
}

/**
 * Peak and current resident set size of this process, from /proc/self/status.
 *
 * @example
 * ```ts
 * import { selfRss } from "./util.ts";
 * console.log(selfRss().peak > 0); // true
 * ```
 */
export function selfRss(): { peak: number; current: number } {
  const text = Deno.readTextFileSync("/proc/self/status");
  const kb = (key: string) =>
    Number(text.match(new RegExp(`^${key}:\\s*(\\d+) kB`, "m"))?.[1]) * 1024;
  return { peak: kb("VmHWM"), current: kb("VmRSS") };
}
