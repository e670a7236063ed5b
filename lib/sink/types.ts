/**
 * The sink interface: where captured bytes go, in order.
 *
 * @module
 */

/** A destination for captured bytes, written in order. */
export interface Sink {
  /** Short description, e.g. `raw file capture.bin`. */
  readonly name: string;
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
  /** Writes all of `chunk`; the caller may reuse `chunk` once this resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes everything written so far durable (and, for WAV, valid). */
  flush(): Promise<void>;
  /** Flushes and releases the sink. Idempotent. */
  close(): Promise<void>;
}

/** Output formats. */
export type SinkFormat = "raw" | "wav";

/** Options of {@linkcode openSink}. */
export interface OpenSinkOptions {
  /** Format; default from the file name (`.wav` → wav), else raw. */
  format?: SinkFormat;
  /** Append to an existing raw file instead of truncating it (as the reference does). */
  append?: boolean;
  /** WAV sample rate, Hz; default 48000. */
  rate?: number;
  /** WAV channels; default 2. */
  channels?: number;
  /** WAV bits per sample (8, 16, 24, 32); default 16. */
  bits?: number;
}
