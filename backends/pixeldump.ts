/**
 * The `pixeldump:` backend: the board's own tools as subprocesses, exactly as
 * the reference runs them. Every read is one
 * `pixeldump -a ADDR - PAGE_SIZE COUNT 1` whose stdout is the bytes; every
 * register read is one `devmem ADDR WIDTH` (busybox) that prints the value in
 * hex. Both are spawned from an argv array, never a shell string, each in a
 * process group of its own with a deadline (see {@linkcode commandDeadline}).
 *
 * URL: `pixeldump:[?bin=PATH&reg=PATH]`: `bin` is the pixeldump program
 * (default `pixeldump` on PATH), `reg` the devmem program (default `devmem`).
 *
 * @module
 */
import type {
  Backend,
  BackendFactory,
  BackendOpenOptions,
  BackendOption,
  BackendProbe,
  RegisterWidth,
} from "./types.ts";
import { urlForm, UrlOptions } from "./options.ts";
import {
  commandDeadline,
  commandGrace,
  type CommandOutput,
  runCommand,
  showCommand,
} from "./process.ts";
import { BackendError } from "../lib/errors.ts";
import { hex } from "../lib/units.ts";

/** Options of {@linkcode openPixeldump}. */
export interface PixeldumpOptions {
  /** The pixeldump program; default `pixeldump` (looked up on PATH). */
  bin?: string;
  /** The register reader, busybox `devmem` or compatible; default `devmem`. */
  reg?: string;
  /** Page size: a read of whole pages is `PAGE_SIZE COUNT`; default 4096. */
  pageSize?: number;
  /** Extra environment for the commands (tests point emulators at an image). */
  env?: Record<string, string>;
  /** The capture's period, ms: sets each command's deadline ({@linkcode commandDeadline}). */
  period?: number;
  /**
   * The capture's stop signal: a command still running `commandGrace(period)`
   * ms after it aborts is killed (a hung tool must not hold up the stop).
   */
  signal?: AbortSignal;
}

function notFound(r: CommandOutput): boolean {
  return r.code === 127 && /command not found|No such file/i.test(r.stderr);
}

/**
 * Parses a register value as `devmem` prints it (`0x0000002A`).
 *
 * @example
 * ```ts
 * import { parseRegisterOutput } from "./pixeldump.ts";
 * console.log(parseRegisterOutput("0x0000002A\n")); // 42n
 * ```
 */
export function parseRegisterOutput(text: string): bigint | undefined {
  const t = text.trim();
  return /^0x[0-9a-f]+$/i.test(t) ? BigInt(t) : /^[0-9]+$/.test(t) ? BigInt(t) : undefined;
}

/**
 * What one pixeldump process reads, and what one devmem process checks: each
 * costs a process start, so a period's pages are read in as few processes as
 * the ring's end allows (as the reference does) and checked by one counter
 * read after the last of them.
 */
const PIXELDUMP_BATCH_BYTES = 64 * 1024 * 1024;

class PixeldumpBackend implements Backend {
  readonly name = "pixeldump";
  readonly maxReadBytes = PIXELDUMP_BATCH_BYTES;
  readonly checkBatchBytes = PIXELDUMP_BATCH_BYTES;
  readonly #bin: string;
  readonly #reg: string;
  readonly #pageSize: number;
  readonly #env?: Record<string, string>;
  readonly #period?: number;
  readonly #stop?: AbortSignal;
  #closed = false;

  constructor(options: PixeldumpOptions) {
    this.#bin = options.bin ?? "pixeldump";
    this.#reg = options.reg ?? "devmem";
    this.#pageSize = options.pageSize ?? 4096;
    this.#env = options.env;
    this.#period = options.period;
    this.#stop = options.signal;
  }

  #check(what: string): void {
    if (this.#closed) {
      throw new BackendError(`pixeldump: ${what} after close`, { backend: "pixeldump" });
    }
  }

  async #run(argv: string[], option: "bin" | "reg", into?: Uint8Array): Promise<CommandOutput> {
    const timeout = commandDeadline(this.#period);
    const grace = commandGrace(this.#period);
    // Started before the stop: killed if still running `grace` ms after it.
    const kill = new AbortController();
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const onStop = () => {
      graceTimer = setTimeout(() => kill.abort(), grace);
    };
    const stop = this.#stop;
    if (stop !== undefined && !stop.aborted) stop.addEventListener("abort", onStop, { once: true });
    let r: CommandOutput;
    try {
      r = await runCommand(argv, { env: this.#env, timeout, signal: kill.signal, into });
    } finally {
      stop?.removeEventListener("abort", onStop);
      if (graceTimer !== undefined) clearTimeout(graceTimer);
    }
    if (r.killed !== undefined) {
      throw new BackendError(
        `pixeldump: '${showCommand(argv)}' ${
          r.killed === "deadline"
            ? `did not finish within its deadline of ${timeout / 1000} s`
            : `was still running ${grace / 1000} s after the stop`
        }; killed it (and its process group). A hung tool? Run the command by hand to see`,
        { backend: "pixeldump", command: argv, stderr: r.stderr },
      );
    }
    if (notFound(r)) {
      throw new BackendError(
        `pixeldump: cannot run '${
          argv[0]
        }': not found; install it or point ${option}= at it (pixeldump:?${option}=/path/to/${
          option === "bin" ? "pixeldump" : "devmem"
        })`,
        { backend: "pixeldump", command: argv, stderr: r.stderr },
      );
    }
    if (r.code !== 0) {
      throw new BackendError(
        `pixeldump: '${showCommand(argv)}' exited with ${r.code}: ${
          r.stderr.trim() || "(no message on stderr)"
        }`,
        { backend: "pixeldump", command: argv, stderr: r.stderr },
      );
    }
    return r;
  }

  async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    this.#check("readRegister");
    const argv = [this.#reg, hex(address), String(width)];
    const r = await this.#run(argv, "reg");
    const text = new TextDecoder().decode(r.stdout);
    const v = parseRegisterOutput(text);
    if (v === undefined) {
      throw new BackendError(
        `pixeldump: '${
          showCommand(argv)
        }' printed '${text.trim()}', not a hex value like 0x0000002A`,
        { backend: "pixeldump", command: argv, stderr: r.stderr, address },
      );
    }
    return v;
  }

  async read(address: bigint, dest: Uint8Array): Promise<void> {
    this.#check("read");
    if (dest.length === 0) return;
    // The reference's form: width = page size, height = pages, 1 byte per pixel.
    const [width, height] = dest.length % this.#pageSize === 0
      ? [this.#pageSize, dest.length / this.#pageSize]
      : [dest.length, 1];
    const argv = [this.#bin, "-a", hex(address), "-", String(width), String(height), "1"];
    // Its stdout goes straight into dest (no intermediate buffer).
    const r = await this.#run(argv, "bin", dest);
    if (r.stdoutBytes !== dest.length) {
      throw new BackendError(
        `pixeldump: '${showCommand(argv)}' wrote ${r.stdoutBytes} bytes, ${
          r.stdoutBytes < dest.length ? "fewer than" : "more than"
        } the ${dest.length} asked for${r.stderr.trim() ? `: ${r.stderr.trim()}` : ""}`,
        { backend: "pixeldump", command: argv, stderr: r.stderr, address },
      );
    }
  }

  /**
   * Every range read at once (a process each: the two parts of a range that
   * wraps run side by side, not one after the other: 14.5 -> 11.3 ms for
   * 2.75 + 0.8 MiB here, medians of 30), then, once all have ended, the
   * register: it is still read after the last byte of every range
   * (docs/design.md rule 4). A failed read is thrown only after the others
   * have ended, so nothing lands in a buffer afterwards.
   */
  async readThenRegister(
    reads: readonly { address: bigint; dest: Uint8Array }[],
    register: { address: bigint; width: RegisterWidth },
  ): Promise<bigint> {
    const done = await Promise.allSettled(reads.map((r) => this.read(r.address, r.dest)));
    const failed = done.find((d): d is PromiseRejectedResult => d.status === "rejected");
    if (failed) throw failed.reason;
    return await this.readRegister(register.address, register.width);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/**
 * Opens the pixeldump backend. Nothing runs until the first read.
 *
 * @example
 * ```ts ignore
 * import { openPixeldump } from "./pixeldump.ts";
 * const board = openPixeldump({ pageSize: 4096 });
 * console.log(await board.readRegister(0x43c00010n, 32));
 * await board.close();
 * ```
 */
export function openPixeldump(options: PixeldumpOptions = {}): Backend {
  return new PixeldumpBackend(options);
}

async function which(program: string): Promise<string | undefined> {
  if (program.includes("/")) {
    try {
      const info = await Deno.stat(program);
      return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0 ? program : undefined;
    } catch {
      return undefined;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const found = await which(`${dir}/${program}`);
    if (found) return found;
  }
  return undefined;
}

async function probe(): Promise<BackendProbe> {
  const [pd, dm] = await Promise.all([which("pixeldump"), which("devmem")]);
  const parts = [
    pd ? `pixeldump: ${pd}` : "pixeldump: not on PATH",
    dm ? `devmem: ${dm}` : "devmem: not on PATH",
  ];
  return { usable: pd !== undefined && dm !== undefined, detail: parts.join(", ") };
}

const PIXELDUMP_DEFAULTS = { bin: "pixeldump", reg: "devmem" } as const;

/** The URL options of `pixeldump:`, declared once (name, type, default, doc). */
const PIXELDUMP_URL_OPTIONS: readonly BackendOption[] = [
  {
    name: "bin",
    type: "path",
    default: PIXELDUMP_DEFAULTS.bin,
    doc: "the pixeldump program (looked up on PATH)",
  },
  {
    name: "reg",
    type: "path",
    default: PIXELDUMP_DEFAULTS.reg,
    doc: "the register reader, busybox devmem or compatible",
  },
];

/**
 * The `pixeldump:` backend factory.
 *
 * @example
 * ```ts
 * import { pixeldumpBackend } from "./pixeldump.ts";
 * console.log(pixeldumpBackend.usage); // "pixeldump:[?bin=PATH&reg=PATH]"
 * ```
 */
export const pixeldumpBackend: BackendFactory = {
  scheme: "pixeldump",
  description: "the board's pixeldump (reads) and devmem (registers) tools, one process per read",
  usage: urlForm("pixeldump:", PIXELDUMP_URL_OPTIONS),
  options: PIXELDUMP_URL_OPTIONS,
  needs: "pixeldump and busybox devmem (or bin=/reg= paths) on this machine, usually root",
  probe,
  // deno-lint-ignore require-await
  async open(url: URL, options: BackendOpenOptions): Promise<Backend> {
    const o = new UrlOptions(url, PIXELDUMP_URL_OPTIONS.map((u) => u.name));
    return openPixeldump({
      bin: o.string("bin", PIXELDUMP_DEFAULTS.bin),
      reg: o.string("reg", PIXELDUMP_DEFAULTS.reg),
      pageSize: options.geometry.pageSize,
      period: options.period,
      signal: options.signal,
    });
  },
};
