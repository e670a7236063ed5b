/**
 * Running a command as a subprocess, from an argv array (never a shell
 * string), and showing one as a line to paste into a shell. The
 * `pixeldump:` and `ssh://` backends share it.
 *
 * A read runs one process per call, so this path is kept short: `Deno.Command`
 * directly (no shell layer, no Node stream adapters), and with `into` each
 * chunk of the child's stdout is read (BYOB) into a reused scratch buffer and
 * copied once, into the caller's buffer: no chunk allocated per pipe read,
 * none gathered into a growing buffer and copied again.
 *
 * @module
 */
import { CHILD_PIPE_BYTES, closeFd, growChildPipe, growPipe } from "./libc_util.ts";
import { pollReadable, readReady, type SpawnedGroup, spawnGroup, waitExit } from "./spawn.ts";

/** Result of one subprocess. */
export interface CommandOutput {
  /** Exit code (127 when the program was not found, 126 when it cannot be run). */
  readonly code: number;
  /**
   * Standard output, as bytes. With {@linkcode RunCommandOptions.into}, the
   * part of `into` that was filled (the output is cut at its length).
   */
  readonly stdout: Uint8Array;
  /** Bytes the program wrote to stdout, including any beyond `into`. */
  readonly stdoutBytes: number;
  /**
   * With {@linkcode RunCommandOptions.keepAfter}: the bytes that came after
   * `into` was full, at most `keepAfter` of them.
   */
  readonly after?: Uint8Array;
  /** Standard error, as text. */
  readonly stderr: string;
  /** Set when ringdump killed it: past its deadline, or stopped by the signal. */
  readonly killed?: "deadline" | "signal";
}

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Extra environment (added to this process's). */
  env?: Record<string, string>;
  /** Kills the command (its whole process group) when it aborts. */
  signal?: AbortSignal;
  /** Kills the command (its whole process group) after this many ms. */
  timeout?: number;
  /**
   * Read stdout straight into this buffer, or these buffers one after
   * another; `stdout` is then the filled part of it (of a list: empty, the
   * buffers hold it) and `stdoutBytes` says whether the program wrote more.
   */
  into?: Uint8Array | readonly Uint8Array[];
  /** With `into`: keep up to this many bytes that come after it is full (`after`). */
  keepAfter?: number;
}

/**
 * Bytes that {@linkcode RunCommandOptions.into} holds: one buffer's length,
 * or a list's total.
 *
 * @example
 * ```ts
 * import { intoBytes } from "./process.ts";
 * console.log(intoBytes(new Uint8Array(4)), intoBytes([new Uint8Array(2), new Uint8Array(3)])); // 4 5
 * ```
 */
export function intoBytes(into: Uint8Array | readonly Uint8Array[]): number {
  return into instanceof Uint8Array ? into.length : into.reduce((n, d) => n + d.length, 0);
}

/** Process groups of the commands running now (see {@linkcode killRunningCommands}). */
const running = new Set<number>();

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch { /* gone already */ }
}

/**
 * Fills buffers one after another with the chunks of a byte stream, as they
 * come; what does not fit is not kept.
 *
 * @example
 * ```ts
 * import { BufferFill } from "./process.ts";
 * const a = new Uint8Array(2), b = new Uint8Array(3);
 * const fill = new BufferFill([a, b]);
 * fill.put(new Uint8Array([1, 2, 3]));
 * console.log(fill.put(new Uint8Array([4, 5, 6])), a, b); // 2 [1, 2] [3, 4, 5]
 * ```
 */
export class BufferFill {
  readonly #dests: readonly Uint8Array[];
  /** dests[k] is being filled; `at` bytes of it are. */
  #k = 0;
  #at = 0;

  /** Fills `dests`, in order. */
  constructor(dests: readonly Uint8Array[]) {
    this.#dests = dests;
  }

  /** Copies the next bytes of `value` into the buffers; returns how many fitted. */
  put(value: Uint8Array): number {
    const dests = this.#dests;
    let used = 0;
    while (used < value.length && this.#k < dests.length) {
      const dest = dests[this.#k];
      const n = Math.min(dest.length - this.#at, value.length - used);
      dest.set(value.subarray(used, used + n), this.#at);
      used += n;
      this.#at += n;
      if (this.#at === dest.length) {
        this.#k++;
        this.#at = 0;
      }
    }
    return used;
  }
}

/**
 * Scratch buffers for {@linkcode readInto}, reused across commands: a pipe
 * read returns at most the pipe's capacity: 1 MiB for a read's output
 * (growChildPipe), else 64 KiB on Linux; a 64 KiB scratch cut every read of a
 * 1 MiB pipe in 16 (ssh via=dd here: 200 -> 270 MiB/s with 1 MiB).
 */
const SCRATCH_BYTES = 1024 * 1024;
const scratchPool: ArrayBuffer[] = [];

/**
 * Reads a byte stream to its end into `dests`, one after another, then into
 * `after` (what does not fit is counted, not kept); returns the bytes read.
 *
 * A BYOB read into a reused scratch buffer, then one copy into `dest`: a
 * default reader allocates a new 64 KiB chunk for every pipe read (128 of
 * them for an 8 MiB read, garbage the collector then has to sweep), which
 * cost twice the CPU. Not a BYOB read into `dest` itself: that would detach
 * its buffer, which the caller reuses.
 */
async function readInto(
  reader: ReadableStreamBYOBReader,
  dests: readonly Uint8Array[],
): Promise<number> {
  let scratch = scratchPool.pop() ?? new ArrayBuffer(SCRATCH_BYTES);
  let total = 0;
  const fill = new BufferFill(dests);
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(scratch));
      if (value !== undefined) scratch = value.buffer as ArrayBuffer;
      if (done || value === undefined) break;
      total += value.length;
      fill.put(value);
    }
  } finally {
    // Only a buffer the stream gave back (not one it still holds after an error).
    if (scratch.byteLength === SCRATCH_BYTES) scratchPool.push(scratch);
  }
  return total;
}

/** Reads a byte stream to its end. */
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  return concatChunks(chunks, total);
}

/**
 * After a kill, how long to wait for the end of a command's output, ms:
 * another process may hold its pipes open (an ssh master connection holds the
 * descriptors of the multiplexed client it serves, until the remote command
 * ends), so what came by then is what it said.
 */
const KILLED_OUTPUT_GRACE = 500;

/**
 * Kills every command {@linkcode runCommand} is running (their process
 * groups), at once: for a process about to exit, so no child is left behind.
 *
 * @example
 * ```ts
 * import { killRunningCommands } from "./process.ts";
 * console.log(killRunningCommands()); // 0
 * ```
 */
export function killRunningCommands(): number {
  const n = running.size;
  for (const pid of running) killGroup(pid);
  running.clear();
  return n;
}

/** The result for a program that could not be started: the shell's code and words. */
function notStarted(argv: readonly string[], code: 126 | 127, why: string): CommandOutput {
  return { code, stdout: new Uint8Array(0), stdoutBytes: 0, stderr: `${argv[0]}: ${why}\n` };
}

/** A command's deadline and abort signal: either kills its process group. */
class Watchdog {
  /** Why the group was killed, if it was. */
  killed: "deadline" | "signal" | undefined;
  readonly #pid: number;
  readonly #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#kill("signal");

  constructor(pid: number, options: RunCommandOptions) {
    this.#pid = pid;
    this.#timer = options.timeout === undefined
      ? undefined
      : setTimeout(() => this.#kill("deadline"), options.timeout);
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  #kill(why: "deadline" | "signal"): void {
    this.killed ??= why;
    killGroup(this.#pid);
  }

  /** Stops watching. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

/**
 * Where a command's stdout goes ({@linkcode RunCommandOptions.into}, then
 * `keepAfter` bytes), how many bytes `into` holds (`wanted`), whether that
 * is more than a default pipe holds (64 KiB: a read, worth a 1 MiB pipe,
 * backends/libc_util.ts), and what of it to report once `out` bytes came.
 * {@linkcode runCommand} and the ssh backend's remote shell share it.
 *
 * @example
 * ```ts
 * import { destinations } from "./process.ts";
 * const d = destinations({ into: new Uint8Array(4), keepAfter: 8 });
 * console.log(d.dests.length, d.wanted, d.result(6).after?.length); // 2 4 2
 * ```
 */
export function destinations(options: Pick<RunCommandOptions, "into" | "keepAfter">): {
  dests: Uint8Array[];
  wanted: number;
  large: boolean;
  result(out: number): { stdout: Uint8Array; after?: Uint8Array };
} {
  const into = options.into;
  const wanted = into === undefined ? 0 : intoBytes(into);
  const dests = into === undefined ? [] : into instanceof Uint8Array ? [into] : [...into];
  const after = options.keepAfter ? new Uint8Array(options.keepAfter) : undefined;
  if (after) dests.push(after);
  return {
    dests,
    wanted,
    large: wanted > 64 * 1024,
    result: (out) => ({
      stdout: into instanceof Uint8Array
        ? into.subarray(0, Math.min(out, into.length))
        : new Uint8Array(0),
      ...(after
        ? { after: after.subarray(0, Math.max(0, Math.min(after.length, out - wanted))) }
        : {}),
    }),
  };
}

/**
 * Runs `argv` (no shell) in a process group of its own and collects its
 * output as bytes; never throws for a non-zero exit, nor for a program that
 * is missing (127) or cannot be executed (126). On `timeout` or when
 * `signal` aborts, the whole group is killed (a script's children too) and
 * `killed` says why.
 *
 * @example
 * ```ts
 * import { runCommand } from "./process.ts";
 * const r = await runCommand(["printf", "%s", "a b"]);
 * console.log(r.code, new TextDecoder().decode(r.stdout)); // 0 "a b"
 * const slow = await runCommand(["sleep", "10"], { timeout: 100 });
 * console.log(slow.killed); // "deadline"
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandOutput> {
  if (options.signal?.aborted) {
    return { code: 137, stdout: new Uint8Array(), stdoutBytes: 0, stderr: "", killed: "signal" };
  }
  // Without fork() where FFI allows (backends/spawn.ts), else Deno's own.
  const spawned = spawnGroup(argv, { env: options.env });
  if (spawned !== undefined && "why" in spawned) return notStarted(argv, spawned.code, spawned.why);
  if (spawned !== undefined) return await runSpawned(spawned, options);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Its own process group: killed as a whole, and the terminal's Ctrl-C
      // goes to ringdump only, which decides what to stop.
      detached: true,
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return notStarted(argv, 127, "No such file or directory");
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      return notStarted(argv, 126, "Permission denied");
    }
    throw e;
  }
  const pid = child.pid;
  running.add(pid);
  const into = options.into;
  const { dests, large, result } = destinations(options);
  if (large) growChildPipe(pid, 1);
  const watchdog = new Watchdog(pid, options);
  try {
    const outReader = into === undefined
      ? child.stdout.getReader()
      : child.stdout.getReader({ mode: "byob" });
    const errReader = child.stderr.getReader();
    const reading = Promise.all([
      into === undefined
        ? readAll(outReader as ReadableStreamDefaultReader<Uint8Array>)
        : readInto(outReader as ReadableStreamBYOBReader, dests),
      readAll(errReader).then((b) => new TextDecoder().decode(b)),
    ]);
    const status = await child.status;
    let grace: ReturnType<typeof setTimeout> | undefined;
    if (watchdog.killed !== undefined) {
      grace = setTimeout(() => {
        outReader.cancel().catch(() => {});
        errReader.cancel().catch(() => {});
      }, KILLED_OUTPUT_GRACE);
    }
    const [out, err] = await reading.finally(() => clearTimeout(grace));
    const killed = watchdog.killed;
    // Killed by a signal: Deno reports 128 + its number, as a shell would.
    return {
      code: status.code,
      ...(typeof out === "number" ? result(out) : { stdout: out }),
      stdoutBytes: typeof out === "number" ? out : out.length,
      stderr: err,
      ...(killed === undefined ? {} : { killed }),
    };
  } finally {
    watchdog.stop();
    running.delete(pid);
    // The leader may be gone while its children still hold the group.
    if (watchdog.killed !== undefined) killGroup(pid);
  }
}

/** How long {@linkcode runSpawned} waits in one `poll`, ms: how soon it sees a cancel. */
const POLL_MS = 100;

/**
 * {@linkcode runCommand} for a command {@linkcode spawnGroup} started: its
 * output read from our ends of its pipes straight into the destinations
 * (no scratch buffer, no stream), the same deadline, abort and grace.
 */
async function runSpawned(s: SpawnedGroup, options: RunCommandOptions): Promise<CommandOutput> {
  const pid = s.pid;
  running.add(pid);
  const into = options.into;
  const { dests, large, result } = destinations(options);
  if (large) growPipe(s.stdout, CHILD_PIPE_BYTES);
  const watchdog = new Watchdog(pid, options);
  let grace: ReturnType<typeof setTimeout> | undefined;
  let cancelled = false;
  let ended = false;
  try {
    // Another process may hold the pipes open after a kill (an ssh master):
    // what came by the end of the grace is what it said.
    const exit = waitExit(pid).then((code) => {
      ended = true;
      if (watchdog.killed !== undefined) {
        grace = setTimeout(() => cancelled = true, KILLED_OUTPUT_GRACE);
      }
      return code;
    });
    const spill = new Uint8Array(64 * 1024);
    const outChunks: Uint8Array[] = [], errChunks: Uint8Array[] = [];
    let outOpen = true, errOpen = true, total = 0, k = 0, at = 0;
    // A read of 0 bytes would look like the end: empty destinations are skipped.
    const skipEmpty = () => {
      while (k < dests.length && dests[k].length === 0) k++;
    };
    skipEmpty();
    while ((outOpen || errOpen) && !cancelled) {
      const fds = outOpen ? (errOpen ? [s.stdout, s.stderr] : [s.stdout]) : [s.stderr];
      for (const fd of await pollReadable(fds, POLL_MS)) {
        if (fd === s.stderr) {
          const n = readReady(fd, spill);
          if (n === 0) errOpen = false;
          else if (n > 0) errChunks.push(spill.slice(0, n));
          continue;
        }
        if (into === undefined) {
          const n = readReady(fd, spill);
          if (n === 0) outOpen = false;
          else if (n > 0) {
            outChunks.push(spill.slice(0, n));
            total += n;
          }
          continue;
        }
        // Straight into the destination being filled; past them all, counted only.
        const n = readReady(fd, k < dests.length ? dests[k].subarray(at) : spill);
        if (n === 0) outOpen = false;
        if (n <= 0) continue;
        total += n;
        if (k < dests.length) {
          at += n;
          if (at === dests[k].length) {
            k++;
            at = 0;
            skipEmpty();
          }
        }
      }
    }
    const code = await exit;
    const killed = watchdog.killed;
    return {
      code,
      ...(into === undefined ? { stdout: concatChunks(outChunks, total) } : result(total)),
      stdoutBytes: total,
      stderr: new TextDecoder().decode(concatChunks(errChunks)),
      ...(killed === undefined ? {} : { killed }),
    };
  } finally {
    watchdog.stop();
    clearTimeout(grace);
    running.delete(pid);
    // Killed, or left early by an error: the group goes (its leader may be
    // gone while its children still hold the group).
    if (watchdog.killed !== undefined || !ended) killGroup(pid);
    closeFd(s.stdout);
    closeFd(s.stderr);
  }
}

function concatChunks(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const all = new Uint8Array(total ?? chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/**
 * The shortest deadline of one command, ms, however short the period.
 *
 * @example
 * ```ts
 * import { COMMAND_DEADLINE_FLOOR } from "./process.ts";
 * console.log(COMMAND_DEADLINE_FLOOR); // 5000
 * ```
 */
export const COMMAND_DEADLINE_FLOOR = 5000;

/**
 * How long one command of a backend (pixeldump, devmem, a remote command over ssh) may run, ms: 20 periods, at least
 * {@linkcode COMMAND_DEADLINE_FLOOR}. A command past it is killed (its whole
 * process group) and the capture ends with a backend error naming it.
 *
 * @example
 * ```ts
 * import { commandDeadline } from "./process.ts";
 * console.log(commandDeadline(100), commandDeadline(1000)); // 5000 20000
 * ```
 */
export function commandDeadline(period = 100): number {
  return Math.max(COMMAND_DEADLINE_FLOOR, 20 * period);
}

/**
 * How long a command running when the capture is told to stop may go on, ms:
 * two periods, at least 1 s.
 *
 * @example
 * ```ts
 * import { commandGrace } from "./process.ts";
 * console.log(commandGrace(100)); // 1000
 * ```
 */
export function commandGrace(period = 100): number {
  return Math.max(1000, 2 * period);
}

/**
 * Shows an argv as one line a user can paste into a shell.
 *
 * @example
 * ```ts
 * import { showCommand } from "./process.ts";
 * console.log(showCommand(["pixeldump", "-a", "0x1000", "-", "4096", "2", "1"]));
 * ```
 */
export function showCommand(argv: readonly string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
}
