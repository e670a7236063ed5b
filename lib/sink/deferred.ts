/**
 * A sink opened only when told, so an existing output is truncated only once
 * the capture is sure to run (docs/design.md rule 9: after the backend has
 * answered the baseline counter read).
 *
 * @module
 */
import { InternalError } from "../errors.ts";
import type { Sink } from "./types.ts";

/**
 * Wraps a sink that is opened by {@linkcode DeferredSink.open}; until then
 * flush and close do nothing (nothing was touched) and a write is a bug.
 *
 * @example
 * ```ts
 * import { DeferredSink, MemorySink } from "./mod.ts";
 * const sink = new DeferredSink("memory", () => Promise.resolve(new MemorySink()));
 * await sink.close(); // never opened: nothing touched
 * const again = new DeferredSink("memory", () => Promise.resolve(new MemorySink()));
 * await again.open();
 * await again.write(new Uint8Array(3));
 * console.log(again.bytesWritten); // 3
 * ```
 */
export class DeferredSink implements Sink {
  readonly #open: () => Promise<Sink>;
  readonly #label: string;
  #sink: Sink | undefined;
  #closed = false;
  /** `label` names the output until it is open. */
  constructor(label: string, open: () => Promise<Sink>) {
    this.#label = label;
    this.#open = open;
  }
  /** The open sink's name, or the label. */
  get name(): string {
    return this.#sink?.name ?? this.#label;
  }
  /** True once opened. */
  get opened(): boolean {
    return this.#sink !== undefined;
  }
  /** Bytes accepted so far. */
  get bytesWritten(): number {
    return this.#sink?.bytesWritten ?? 0;
  }
  /** Opens the sink (creating or truncating the output); once. */
  async open(): Promise<void> {
    if (this.#sink !== undefined || this.#closed) return;
    this.#sink = await this.#open();
  }
  /** Writes to the open sink. */
  write(chunk: Uint8Array): Promise<void> {
    if (this.#sink === undefined) {
      return Promise.reject(
        new InternalError(`${this.#label}: write before the output was opened`),
      );
    }
    return this.#sink.write(chunk);
  }
  /** Flushes the open sink; nothing before it is open. */
  flush(): Promise<void> {
    return this.#sink?.flush() ?? Promise.resolve();
  }
  /** Closes the open sink; idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#sink?.close() ?? Promise.resolve();
  }
}
