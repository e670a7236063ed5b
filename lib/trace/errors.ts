/**
 * The error a trace that cannot be read raises.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/**
 * A trace file or directory could not be read: truncated, corrupt, or not a
 * trace in a format ringdump knows. Exit code 2.
 *
 * @example
 * ```ts
 * import { TraceFormatError } from "./mod.ts";
 * const e = new TraceFormatError("t.json: truncated", { path: "t.json", format: "json" });
 * console.log(e.exitCode, e.format); // 2 "json"
 * ```
 */
export class TraceFormatError extends UsageError {
  /** The trace path. */
  readonly path: string;
  /** The format it was read as, if known. */
  readonly format?: string;
  /** Byte offset of the problem, if known. */
  readonly offset?: number;
  /** Creates the error. */
  constructor(
    message: string,
    options: { path: string; format?: string; offset?: number; cause?: unknown },
  ) {
    super(message, { option: "PATH", value: options.path, cause: options.cause });
    this.path = options.path;
    this.format = options.format;
    this.offset = options.offset;
  }
}
