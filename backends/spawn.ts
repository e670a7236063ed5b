/**
 * Starting a command in a process group of its own without `fork()`:
 * `posix_spawnp` with `POSIX_SPAWN_SETPGROUP` through FFI, its stdout and
 * stderr read from our ends of two pipes. Deno's `Deno.Command` starts a
 * `detached` command (the process group backends/process.ts needs) with a
 * real `fork()` of the whole Deno process, where it otherwise uses a
 * `vfork`-style spawn: a compiled `devmem` took 6.8 ms to run from Deno
 * detached, 10.9 ms from a process 100 MiB larger, against 3.5-3.9 ms this
 * way, and every `fork()` write-protects the parent's memory, so the pages
 * it touches next each take a fault (issue 13: 0.13 s of page faults in a
 * 10 s pixeldump capture). Linux (glibc or musl) only; {@linkcode spawnGroup}
 * returns undefined elsewhere, or without FFI or environment permission,
 * and the caller falls back to `Deno.Command`.
 *
 * @module
 */
import { closeFd, lastErrno, LIBC_NAMES } from "./libc_util.ts";

/** `posix_spawnattr` flags (glibc and musl). */
const POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
/** Signals the child gets at their defaults: Deno ignores SIGPIPE, which exec would keep. */
const DEFAULT_SIGNALS = [1, 2, 3, 13, 15]; // SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM
const O_CLOEXEC = 0o2000000;
const POLLIN = 0x001, POLLHUP = 0x010, POLLERR = 0x008;
const EINTR = 4, EAGAIN = 11, ENOENT = 2, EACCES = 13, ENOEXEC = 8, ENOTDIR = 20;

const SYMBOLS = {
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setpgroup: { parameters: ["buffer", "i32"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  sigaddset: { parameters: ["buffer", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // On a thread of their own: they wait.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
} as const;

type SpawnLib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: SpawnLib | null | undefined;

function spawnLib(): SpawnLib | undefined {
  if (lib !== undefined) return lib ?? undefined;
  lib = null;
  if (Deno.build.os !== "linux") return undefined;
  for (const name of LIBC_NAMES) {
    try {
      lib = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch {
      // no FFI permission, or not this libc
    }
  }
  return lib ?? undefined;
}

const ENCODER = new TextEncoder();
const cString = (s: string): Uint8Array => ENCODER.encode(s + "\0");

/** A NULL-terminated array of pointers to `strings` (kept alive by the caller). */
function pointerArray(strings: readonly Uint8Array[]): Uint8Array {
  const a = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => a[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s))));
  return new Uint8Array(a.buffer);
}

/** A command started by {@linkcode spawnGroup}. */
export interface SpawnedGroup {
  /** Its pid, also its process group's id. */
  readonly pid: number;
  /** Our end of its stdout pipe. */
  readonly stdout: number;
  /** Our end of its stderr pipe. */
  readonly stderr: number;
}

/** Why {@linkcode spawnGroup} could not start the program: the shell's exit codes. */
export interface SpawnRefused {
  /** 127: not found; 126: found, not executable. */
  readonly code: 126 | 127;
  /** What the shell would say. */
  readonly why: string;
}

/**
 * Starts `argv` (PATH searched for a bare name) with stdin on /dev/null, its
 * stdout and stderr on pipes, in a process group of its own, with `env`
 * added to this process's environment. Returns undefined when this way is
 * not available here (see the module doc), a {@linkcode SpawnRefused} when
 * the program is missing or not executable.
 *
 * @example
 * ```ts ignore
 * import { closeFd } from "./libc_util.ts";
 * import { spawnGroup, waitExit } from "./spawn.ts";
 * const s = spawnGroup(["true"]);
 * if (s && "pid" in s) {
 *   closeFd(s.stdout);
 *   closeFd(s.stderr);
 *   console.log(await waitExit(s.pid)); // 0
 * }
 * ```
 */
export function spawnGroup(
  argv: readonly string[],
  options: { env?: Record<string, string> } = {},
): SpawnedGroup | SpawnRefused | undefined {
  const l = spawnLib();
  if (l === undefined || argv.length === 0) return undefined;
  let env: Record<string, string>;
  try {
    env = { ...Deno.env.toObject(), ...options.env };
  } catch {
    return undefined; // no environment permission: Deno.Command passes it on without one
  }
  const out = new Int32Array(2), err = new Int32Array(2);
  if (l.pipe2(new Uint8Array(out.buffer), O_CLOEXEC) !== 0) return undefined;
  if (l.pipe2(new Uint8Array(err.buffer), O_CLOEXEC) !== 0) {
    closeFd(out[0]);
    closeFd(out[1]);
    return undefined;
  }
  const attr = new Uint8Array(1024), actions = new Uint8Array(1024), set = new Uint8Array(256);
  l.posix_spawnattr_init(attr);
  l.posix_spawn_file_actions_init(actions);
  const devNull = cString("/dev/null");
  const args = argv.map(cString);
  const envs = Object.entries(env).map(([k, v]) => cString(`${k}=${v}`));
  let rc: number;
  const pid = new Int32Array(1);
  try {
    l.posix_spawn_file_actions_addopen(actions, 0, devNull, 0, 0);
    l.posix_spawn_file_actions_adddup2(actions, out[1], 1);
    l.posix_spawn_file_actions_adddup2(actions, err[1], 2);
    l.sigemptyset(set);
    l.posix_spawnattr_setsigmask(attr, set);
    for (const s of DEFAULT_SIGNALS) l.sigaddset(set, s);
    l.posix_spawnattr_setsigdefault(attr, set);
    l.posix_spawnattr_setpgroup(attr, 0);
    l.posix_spawnattr_setflags(
      attr,
      POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK,
    );
    rc = l.posix_spawnp(
      new Uint8Array(pid.buffer),
      args[0],
      actions,
      attr,
      pointerArray(args),
      pointerArray(envs),
    );
  } finally {
    l.posix_spawnattr_destroy(attr);
    l.posix_spawn_file_actions_destroy(actions);
    closeFd(out[1]);
    closeFd(err[1]);
  }
  if (rc !== 0) {
    closeFd(out[0]);
    closeFd(err[0]);
    if (rc === ENOENT || rc === ENOTDIR) return { code: 127, why: "No such file or directory" };
    if (rc === EACCES || rc === ENOEXEC) return { code: 126, why: "Permission denied" };
    return undefined; // something else (EAGAIN, ENOMEM): let Deno.Command try and say
  }
  return { pid: pid[0], stdout: out[0], stderr: err[0] };
}

/**
 * Waits (on a thread of its own) until one of `fds` has data or its end
 * closed, or `timeoutMs` passes; returns the descriptors that are ready.
 *
 * @example
 * ```ts ignore
 * import { pollReadable } from "./spawn.ts";
 * console.log(await pollReadable([0], 10));
 * ```
 */
export async function pollReadable(fds: readonly number[], timeoutMs: number): Promise<number[]> {
  const l = spawnLib()!;
  // struct pollfd { int fd; short events; short revents; }
  const p = new Int32Array(fds.length * 2);
  fds.forEach((fd, i) => {
    p[2 * i] = fd;
    p[2 * i + 1] = POLLIN;
  });
  const n = await l.poll(new Uint8Array(p.buffer), BigInt(fds.length), timeoutMs);
  if (n <= 0) return [];
  return fds.filter((_, i) => (p[2 * i + 1] >>> 16) & (POLLIN | POLLHUP | POLLERR));
}

/**
 * Reads what `fd` has now into `dest` (a descriptor {@linkcode pollReadable}
 * reported ready): the bytes read, 0 at the end, -1 for nothing yet.
 *
 * @example
 * ```ts ignore
 * import { readReady } from "./spawn.ts";
 * console.log(readReady(0, new Uint8Array(16)));
 * ```
 */
export function readReady(fd: number, dest: Uint8Array): number {
  const l = spawnLib()!;
  for (;;) {
    const n = Number(l.read(fd, dest, BigInt(dest.length)));
    if (n >= 0) return n;
    const e = lastErrno().code;
    if (e === EINTR) continue;
    if (e === EAGAIN) return -1;
    throw new Error(`reading a command's output: errno ${e}`);
  }
}

/**
 * Waits (on a thread of its own) for process `pid` to end: its exit code,
 * or 128 + the signal that ended it, as a shell says.
 *
 * @example
 * ```ts ignore
 * import { waitExit } from "./spawn.ts";
 * console.log(await waitExit(12345));
 * ```
 */
export async function waitExit(pid: number): Promise<number> {
  const l = spawnLib()!;
  const status = new Int32Array(1);
  // errno is the waiting thread's, out of reach here: a failure is retried a
  // few times (an interrupted wait), then the status is unknown.
  for (let tries = 0;; tries++) {
    const r = await l.waitpid(pid, new Uint8Array(status.buffer), 0);
    if (r === pid) break;
    if (tries >= 3) return 255;
  }
  const s = status[0];
  const sig = s & 0x7f;
  return sig === 0 ? (s >> 8) & 0xff : 128 + sig;
}
