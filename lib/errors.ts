/**
 * Error classes of ringdump. Every error a user or a script can meet is one of
 * these, with fields, so scripts can `catch` them by type and the CLI can map
 * them to exit codes.
 *
 * @module
 */

/** "1 page", "2 pages" (the messages below count pages). */
const pagesOf = (n: number): string => n === 1 ? "1 page" : `${n} pages`;

/**
 * Base class of every ringdump error.
 *
 * @example
 * ```ts
 * import { RingdumpError } from "./errors.ts";
 * try {
 *   throw new RingdumpError("something went wrong");
 * } catch (e) {
 *   if (e instanceof RingdumpError) console.error(e.message);
 * }
 * ```
 */

export class RingdumpError extends Error {
  /** Exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  /** Creates the error with a message that says what to do. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The message of anything thrown: an `Error`'s message, else the value as a
 * string (a rejected promise may carry anything).
 *
 * @example
 * ```ts
 * import { errorMessage } from "./errors.ts";
 * console.log(errorMessage(new Error("disk full")), errorMessage("gone"), errorMessage(undefined));
 * // "disk full" "gone" "undefined"
 * ```
 */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Why a file could not be opened or written, in words: a missing directory,
 * a denied permission, a directory in its place, else the error's message.
 *
 * @example
 * ```ts
 * import { openFailure } from "./errors.ts";
 * console.log(openFailure(new Deno.errors.NotFound("x"))); // "its directory does not exist"
 * ```
 */
export function openFailure(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "its directory does not exist";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (e instanceof Deno.errors.NotCapable) {
    return "ringdump does not open devices or kernel files, nor anything else under /dev " +
      "(Deno opens those only with --allow-all, even /dev/shm's regular files); write to /tmp or another directory";
  }
  return errorMessage(e);
}

/**
 * Bad input from the user or a script: a flag, a URL, a geometry value.
 * Exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const e = new UsageError("--pages must be a positive integer", { option: "--pages", value: "0" });
 * console.log(e.option, e.exitCode); // "--pages" 2
 * ```
 */
export class UsageError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 2;
  /** The option, field or argument that was wrong, if known. */
  readonly option?: string;
  /** The value that was given. */
  readonly value?: string;
  /** Creates a usage error. */
  constructor(message: string, options: { option?: string; value?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.option = options.option;
    this.value = options.value;
  }
}

/**
 * A geometry value is invalid (zero pages, a counter wrap that does not exceed
 * the ring, ...). Exit code 2.
 *
 * @example
 * ```ts
 * import { GeometryError } from "./errors.ts";
 * const e = new GeometryError("pages", 0, "must be a positive integer");
 * console.log(e.field, e.value); // "pages" 0
 * ```
 */
export class GeometryError extends UsageError {
  /** The geometry field that was wrong. */
  readonly field: string;
  /** Creates a geometry error for `field` holding `value`. */
  constructor(field: string, value: unknown, reason: string) {
    super(`ring geometry: ${field} ${reason} (got ${String(value)})`, {
      option: field,
      value: String(value),
    });
    this.field = field;
  }
}

/**
 * Data was lost: the writer lapped the reader between two counter reads.
 * Carries the page counts. Exit code 1.
 *
 * @example
 * ```ts
 * import { OverrunError } from "./errors.ts";
 * const e = new OverrunError({ lastPage: 10, currentPage: 300, pages: 256, capturedPages: 10 });
 * console.log(e.lostPages); // 34
 * ```
 */
export class OverrunError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 1;
  /** Logical page count up to which everything was captured. */
  readonly lastPage: number;
  /** Logical page count the writer had reached. */
  readonly currentPage: number;
  /** Number of pages in the ring. */
  readonly pages: number;
  /** Pages written to the output before the overrun. */
  readonly capturedPages: number;
  /** Pages that were certainly overwritten before they could be read. */
  readonly lostPages: number;
  /** Creates an overrun error from the page counts. */
  constructor(
    counts: { lastPage: number; currentPage: number; pages: number; capturedPages: number },
    message?: string,
  ) {
    const lost = counts.currentPage - counts.lastPage - counts.pages;
    super(
      message ??
        `overrun: the writer lapped the reader: ${
            counts.currentPage - counts.lastPage
          } new pages since the last read (logical page ${counts.lastPage} -> ${counts.currentPage}) ` +
          `but the ring holds only ${counts.pages}; ${pagesOf(lost)} lost. ` +
          `${pagesOf(counts.capturedPages)} captured before it are on disk. ` +
          `Use a shorter period or a larger ring.`,
    );
    this.lastPage = counts.lastPage;
    this.currentPage = counts.currentPage;
    this.pages = counts.pages;
    this.capturedPages = counts.capturedPages;
    this.lostPages = Math.max(0, lost);
  }
}

/**
 * A range was overwritten while it was being read (detected by re-reading the
 * counter after the read). Exit code 1.
 *
 * @example
 * ```ts
 * import { TornReadError } from "./errors.ts";
 * const e = new TornReadError({ firstPage: 100, endPage: 164, counterAfter: 400, pages: 256, capturedPages: 100 });
 * console.log(e.tornPages); // 44
 * // the oldest page of a full lap, being written while the counter shows the lap done
 * const f = new TornReadError({ firstPage: 0, endPage: 16, counterAfter: 16, pages: 16, capturedPages: 0, inFlight: 1 });
 * console.log(f.tornPages); // 1
 * ```
 */
export class TornReadError extends OverrunError {
  /** First logical page of the range that was read. */
  readonly firstPage: number;
  /** One past the last logical page of the range. */
  readonly endPage: number;
  /** Counter (logical) read right after the read. */
  readonly counterAfter: number;
  /** Pages of the range that may have been overwritten during the read. */
  readonly tornPages: number;
  /** Creates a torn-read error. */
  constructor(
    counts: {
      firstPage: number;
      endPage: number;
      counterAfter: number;
      pages: number;
      capturedPages: number;
      /** Pages the hardware may be writing beyond its counter (they count as torn); default 0. */
      inFlight?: number;
    },
  ) {
    const torn = Math.min(
      counts.endPage - counts.firstPage,
      counts.counterAfter + (counts.inFlight ?? 0) - counts.pages - counts.firstPage,
    );
    super(
      {
        lastPage: counts.firstPage,
        currentPage: counts.counterAfter,
        pages: counts.pages,
        capturedPages: counts.capturedPages,
      },
      `torn read: pages ${counts.firstPage}..${counts.endPage} were being overwritten while read ` +
        `(counter reached ${counts.counterAfter} during the read, ring holds ${counts.pages}` +
        `${counts.inFlight ? `, ${counts.inFlight} more in flight` : ""}); ` +
        `${pagesOf(torn)} lost. ${pagesOf(counts.capturedPages)} captured before it are on disk. ` +
        `Use a shorter period or a larger ring.`,
    );
    this.firstPage = counts.firstPage;
    this.endPage = counts.endPage;
    this.counterAfter = counts.counterAfter;
    this.tornPages = torn;
  }
}

/**
 * The backend or device failed (a read error, a subprocess that exited
 * non-zero, a dropped connection). Exit code 3.
 *
 * @example
 * ```ts
 * import { BackendError } from "./errors.ts";
 * const e = new BackendError("pixeldump exited with 1", { backend: "pixeldump", command: ["pixeldump", "-a", "0x0"], stderr: "boom" });
 * console.log(e.backend, e.exitCode); // "pixeldump" 3
 * ```
 */
export class BackendError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 3;
  /** Name of the backend. */
  readonly backend: string;
  /** The command that ran, for subprocess backends. */
  readonly command?: string[];
  /** What the command wrote to stderr. */
  readonly stderr?: string;
  /** The address involved, if any. */
  readonly address?: bigint;
  /** Creates a backend error. */
  constructor(
    message: string,
    options: {
      backend: string;
      command?: string[];
      stderr?: string;
      address?: bigint;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.backend = options.backend;
    this.command = options.command;
    this.stderr = options.stderr;
    this.address = options.address;
  }
}

/**
 * The device returned something impossible, e.g. a counter register value
 * that is not below the counter wrap. Exit code 3.
 *
 * @example
 * ```ts
 * import { DeviceError } from "./errors.ts";
 * const e = new DeviceError("counter 0x20000 is not below the wrap 0x10000");
 * console.log(e.exitCode); // 3
 * ```
 */
export class DeviceError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 3;
}

/**
 * A capture file failed verification. Exit code 1.
 *
 * @example
 * ```ts
 * import { VerifyError } from "./errors.ts";
 * const e = new VerifyError("gap", { offset: 4096, expected: 4096n, found: 8192n });
 * console.log(e.offset); // 4096
 * ```
 */
export class VerifyError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 1;
  /** Byte offset in the file of the first bad word. */
  readonly offset: number;
  /** The value the word should have held. */
  readonly expected: bigint;
  /** The value found. */
  readonly found: bigint;
  /** Creates a verify error. */
  constructor(message: string, fields: { offset: number; expected: bigint; found: bigint }) {
    super(message);
    this.offset = fields.offset;
    this.expected = fields.expected;
    this.found = fields.found;
  }
}

/**
 * A broken invariant inside ringdump: a bug, never the user's doing. Exit
 * code 70.
 *
 * @example
 * ```ts
 * import { InternalError } from "./errors.ts";
 * const e = new InternalError("page order: appending page 9 after page 10");
 * console.log(e.exitCode); // 70
 * ```
 */
export class InternalError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 70;
}

/**
 * The capture was stopped or starved (SIGSTOP, Ctrl-Z, a frozen VM) long
 * enough for the counter to wrap unseen: data was lost and how much is an
 * estimate. Exit code 1.
 *
 * @example
 * ```ts
 * import { StallError } from "./errors.ts";
 * const e = new StallError({ lastPage: 100, currentPage: 1200, pages: 64, capturedPages: 90, stalledMs: 4500, wrapMs: 4000 });
 * console.log(e.lostPages, e.exitCode); // 1036 1
 * ```
 */
export class StallError extends OverrunError {
  /** How long the capture was away, ms. */
  readonly stalledMs: number;
  /** How long one counter wrap takes at the rate seen, ms. */
  readonly wrapMs: number;
  /** Creates a stall error. */
  constructor(
    counts: {
      lastPage: number;
      currentPage: number;
      pages: number;
      capturedPages: number;
      stalledMs: number;
      wrapMs: number;
    },
  ) {
    const lost = Math.max(0, counts.currentPage - counts.lastPage - counts.pages);
    super(
      counts,
      `stall: the capture was stopped or starved for ${(counts.stalledMs / 1000).toFixed(1)} s, ` +
        `and one counter wrap takes about ${
          (counts.wrapMs / 1000).toFixed(1)
        } s at the rate seen: the counter may have wrapped unseen, so about ${lost} pages after ` +
        `logical page ${counts.lastPage} are lost (the exact count is unknown). ` +
        `${pagesOf(counts.capturedPages)} captured before it are on disk. ` +
        `Do not suspend a capture (Ctrl-Z, SIGSTOP); give it a CPU of its own.`,
    );
    this.stalledMs = counts.stalledMs;
    this.wrapMs = counts.wrapMs;
  }
}

/**
 * Writing the output failed: a full disk, an I/O error, a closed pipe, the
 * output file deleted under the capture. Everything written before the error
 * is on disk. Exit code 3.
 *
 * @example
 * ```ts
 * import { OutputError } from "./errors.ts";
 * const e = new OutputError("--out c.bin: the disk is full", { output: "c.bin", code: "ENOSPC" });
 * console.log(e.exitCode, e.code); // 3 "ENOSPC"
 * ```
 */
export class OutputError extends RingdumpError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 3;
  /** The output: a path, or `stdout`. */
  readonly output: string;
  /** The errno name, when the system gave one (ENOSPC, EIO, EPIPE, ...). */
  readonly code?: string;
  /** Creates an output error. */
  constructor(message: string, options: { output: string; code?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.output = options.output;
    this.code = options.code;
  }
}

/**
 * The reader of the output pipe went away (`ringdump capture --out - | head`):
 * the end of the capture, not a failure. The CLI notes it and exits 0.
 *
 * @example
 * ```ts
 * import { OutputClosedError } from "./errors.ts";
 * const e = new OutputClosedError("stdout: the reader closed the pipe", { output: "stdout", code: "EPIPE" });
 * console.log(e.exitCode); // 0
 * ```
 */
export class OutputClosedError extends OutputError {
  /** Exit code the CLI uses for this error. */
  override readonly exitCode: number = 0;
}
