/**
 * Standard output as a sink, so a capture can be piped.
 *
 * @module
 */
import type { Sink } from "./types.ts";
import { writeAll } from "./file.ts";
import { outputError } from "./output_error.ts";

/**
 * Standard output as a sink, so a capture can be piped.
 *
 * @example
 * ```ts
 * import { StdoutSink } from "./stdout.ts";
 * const sink = new StdoutSink();
 * await sink.write(new TextEncoder().encode("hello\n"));
 * ```
 */
export class StdoutSink implements Sink {
  readonly name = "stdout";
  #bytes = 0;
  /** Bytes written. */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Writes all of `chunk` to stdout. */
  async write(chunk: Uint8Array): Promise<void> {
    try {
      await writeAll(Deno.stdout, chunk);
    } catch (e) {
      // EPIPE: the reader is gone (an OutputClosedError); ENOSPC: /dev/full...
      throw outputError(e, { output: "stdout", bytes: this.#bytes });
    }
    this.#bytes += chunk.length;
  }
  /** Nothing is buffered. */
  flush(): Promise<void> {
    return Promise.resolve();
  }
  /** Nothing to release (stdout stays open). */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
