/**
 * File helpers the trace writers share: a whole synchronous write, and the
 * message for a trace path that cannot be created.
 *
 * @module
 */
import { openFailure, UsageError } from "../errors.ts";

/**
 * Writes all of `data` to `file` synchronously (a short write is continued).
 *
 * @example
 * ```ts
 * import { writeAllSync } from "./io.ts";
 * const path = await Deno.makeTempFile();
 * using f = await Deno.open(path, { write: true });
 * writeAllSync(f, new Uint8Array(3));
 * await Deno.remove(path);
 * ```
 */
export function writeAllSync(file: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

/**
 * The {@linkcode UsageError} for a trace path that cannot be created.
 *
 * @example
 * ```ts
 * import { openError } from "./io.ts";
 * console.log(openError("/x/t.json", new Deno.errors.NotFound()).option); // "trace"
 * ```
 */
export function openError(path: string, e: unknown): UsageError {
  return new UsageError(`trace: cannot write '${path}': ${openFailure(e)}`, {
    option: "trace",
    value: path,
    cause: e,
  });
}
