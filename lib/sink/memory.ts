/**
 * Sinks that keep the bytes in memory (tests, small scripts) or only count
 * them (benchmarks).
 *
 * @module
 */
import type { Sink } from "./types.ts";

/**
 * A sink that keeps everything in memory (for tests and small scripts).
 *
 * @example
 * ```ts
 * import { MemorySink } from "./memory.ts";
 * const sink = new MemorySink();
 * await sink.write(new Uint8Array([1, 2]));
 * console.log(sink.bytes()); // Uint8Array(2) [ 1, 2 ]
 * ```
 */
export class MemorySink implements Sink {
  readonly name = "memory";
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  /** Bytes written. */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Copies `chunk`. */
  write(chunk: Uint8Array): Promise<void> {
    this.#chunks.push(chunk.slice());
    this.#bytes += chunk.length;
    return Promise.resolve();
  }
  /** Everything written, as one array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#bytes);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
  /** Nothing to flush. */
  flush(): Promise<void> {
    return Promise.resolve();
  }
  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A sink that counts and discards (for benchmarks).
 *
 * @example
 * ```ts
 * import { DiscardSink } from "./memory.ts";
 * const sink = new DiscardSink();
 * await sink.write(new Uint8Array(10));
 * console.log(sink.bytesWritten); // 10
 * ```
 */
export class DiscardSink implements Sink {
  readonly name = "discard";
  #bytes = 0;
  /** Bytes accepted. */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Counts `chunk`. */
  write(chunk: Uint8Array): Promise<void> {
    this.#bytes += chunk.length;
    return Promise.resolve();
  }
  /** Nothing to flush. */
  flush(): Promise<void> {
    return Promise.resolve();
  }
  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
