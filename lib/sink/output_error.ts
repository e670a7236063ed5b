/**
 * Turning a failed write, sync or open of an output into an
 * {@linkcode OutputError} that says, in one line, what happened and what to do.
 *
 * @module
 */
import { errorMessage, OutputClosedError, OutputError, UsageError } from "../errors.ts";

function errno(e: unknown): string | undefined {
  if (e instanceof Deno.errors.BrokenPipe) return "EPIPE";
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The {@linkcode OutputError} for error `e` met while writing `options.output`
 * (a path or `stdout`) after `options.bytes` bytes. A pipe closed by its reader is an
 * {@linkcode OutputClosedError}. Errors that already are ringdump's pass.
 *
 * @example
 * ```ts
 * import { outputError } from "./output_error.ts";
 * const e = outputError(Object.assign(new Error("No space left on device"), { code: "ENOSPC" }), {
 *   output: "c.bin",
 *   bytes: 4096,
 * });
 * console.log(e.message.startsWith("c.bin: the disk is full")); // true
 * ```
 */
export function outputError(
  e: unknown,
  options: { output: string; bytes: number },
): OutputError {
  const { output, bytes } = options;
  if (e instanceof OutputError) return e;
  const code = errno(e);
  const where = output;
  const kept = `the ${bytes} bytes written before it are kept`;
  if (code === "EPIPE") {
    return new OutputClosedError(
      `${where}: the reader closed the pipe after ${bytes} bytes; the capture ends here`,
      { output, code, cause: e },
    );
  }
  const what = code === "ENOSPC"
    ? `the disk is full (ENOSPC); ${kept}; free space or write elsewhere`
    : code === "EDQUOT"
    ? `the disk quota is exhausted (EDQUOT); ${kept}`
    : code === "EFBIG"
    ? `the file is too large for its file system (EFBIG); ${kept}`
    : code === "EIO"
    ? `an I/O error on the device (EIO); ${kept}; check the disk`
    : `writing failed: ${errorMessage(e)}${code ? ` (${code})` : ""}; ${kept}`;
  return new OutputError(`${where}: ${what}`, { output, code, cause: e });
}

/**
 * The {@linkcode UsageError} for an output path that cannot be opened.
 *
 * @example
 * ```ts
 * import { openOutputError } from "./output_error.ts";
 * console.log(openOutputError(new Deno.errors.NotFound("x"), "/no/dir/c.bin").message);
 * ```
 */
export function openOutputError(e: unknown, path: string): UsageError {
  const o = { option: "out", value: path, cause: e };
  if (e instanceof Deno.errors.NotFound) {
    return new UsageError(
      `out: cannot create '${path}': its directory does not exist; create it first or choose another path`,
      o,
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new UsageError(`out: cannot write '${path}': permission denied`, o);
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new UsageError(`out: '${path}' is a directory; give a file name`, o);
  }
  if (e instanceof Deno.errors.NotCapable && path.startsWith("/dev/shm/")) {
    return new UsageError(
      `out: '${path}' is under /dev, which Deno opens only with --allow-all, even for /dev/shm's ` +
        `regular files; write to /tmp or another directory, or to stdout (the out option -) and redirect it there`,
      o,
    );
  }
  if (e instanceof Deno.errors.NotCapable) {
    return new UsageError(
      `out: '${path}' is a device or a kernel file, which ringdump does not open itself; ` +
        `write to a regular file or /dev/null, or to stdout (the out option -) and redirect it there`,
      o,
    );
  }
  return new UsageError(`out: cannot open '${path}': ${errorMessage(e)}`, o);
}
