/**
 * Where captured bytes go: a raw file (append or truncate), stdout (so a
 * capture can be piped), a WAV file (header sizes patched on flush and close,
 * so even a stopped or failed capture is a valid WAV), memory, or nowhere.
 *
 * @module
 */
import { UsageError } from "./errors.ts";

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

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/**
 * Appends `data` to a file on this thread. The capture path of the file sinks:
 * the bytes were just copied into the buffer on this thread and are still in
 * its cache, where an async write hands them to another thread first
 * (`deno task bench --only disk`, disk.vs_dd: 0.85-0.88 of dd async, 0.91-0.97 sync).
 * The dumper waits for every append either way. Errors reject, never throw.
 */
function appendSync(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  try {
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
  } catch (e) {
    return Promise.reject(e);
  }
  return Promise.resolve();
}

async function openFile(path: string, options: Deno.OpenOptions): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, options);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `--out: cannot create '${path}': its directory does not exist; create it first or choose another path`,
        { option: "--out", value: path, cause: e },
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`--out: cannot write '${path}': permission denied`, {
        option: "--out",
        value: path,
        cause: e,
      });
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`--out: '${path}' is a directory; give a file name`, {
        option: "--out",
        value: path,
        cause: e,
      });
    }
    throw new UsageError(`--out: cannot open '${path}': ${(e as Error).message}`, {
      option: "--out",
      value: path,
      cause: e,
    });
  }
}

/**
 * A raw file sink.
 *
 * @example
 * ```ts
 * import { FileSink } from "./sink.ts";
 * const path = await Deno.makeTempFile();
 * const sink = await FileSink.open(path);
 * await sink.write(new Uint8Array([1, 2, 3]));
 * await sink.close();
 * console.log((await Deno.readFile(path)).length); // 3
 * ```
 */
export class FileSink implements Sink {
  readonly name: string;
  #file: Deno.FsFile | undefined;
  #bytes = 0;
  #dirty = false;
  private constructor(path: string, file: Deno.FsFile) {
    this.name = `raw file ${path}`;
    this.#file = file;
  }
  /** Opens `path` for writing: truncated, or appended to with `append`. */
  static async open(path: string, options: { append?: boolean } = {}): Promise<FileSink> {
    const file = await openFile(path, {
      write: true,
      create: true,
      append: options.append ?? false,
      truncate: !options.append,
    });
    return new FileSink(path, file);
  }
  /** Bytes written by this sink (not counting what an appended file held). */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Writes all of `chunk`. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#file) throw new Error(`${this.name}: write after close`);
    await appendSync(this.#file, chunk);
    this.#bytes += chunk.length;
    this.#dirty = true;
  }
  /** `fdatasync`s the file. */
  async flush(): Promise<void> {
    if (this.#file && this.#dirty) {
      await this.#file.syncData();
      this.#dirty = false;
    }
  }
  /** Flushes and closes. */
  async close(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.flush();
    } finally {
      this.#file.close();
      this.#file = undefined;
    }
  }
}

/**
 * Standard output as a sink, so a capture can be piped.
 *
 * @example
 * ```ts
 * import { StdoutSink } from "./sink.ts";
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
    await writeAll(Deno.stdout, chunk);
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

/** Bytes of the canonical WAV header written by {@linkcode WavSink}. */
export const WAV_HEADER_BYTES = 44;

/**
 * Builds a canonical 44-byte PCM WAV header.
 *
 * @example
 * ```ts
 * import { wavHeader } from "./sink.ts";
 * const h = wavHeader(1000, { rate: 48000, channels: 2, bits: 16 });
 * console.log(new TextDecoder().decode(h.subarray(0, 4))); // "RIFF"
 * ```
 */
export function wavHeader(
  dataBytes: number,
  options: { rate: number; channels: number; bits: number },
): Uint8Array {
  const h = new Uint8Array(WAV_HEADER_BYTES);
  const v = new DataView(h.buffer);
  const ascii = (off: number, s: string) => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i);
  };
  const data = Math.min(dataBytes, 0xffff_ffff - 36);
  const block = options.channels * (options.bits / 8);
  ascii(0, "RIFF");
  v.setUint32(4, 36 + data, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, options.channels, true);
  v.setUint32(24, options.rate, true);
  v.setUint32(28, options.rate * block, true);
  v.setUint16(32, block, true);
  v.setUint16(34, options.bits, true);
  ascii(36, "data");
  v.setUint32(40, data, true);
  return h;
}

/**
 * A WAV file sink: PCM header, then the captured bytes. The header's sizes are
 * patched on every flush and on close, so a stopped capture is a valid WAV.
 *
 * @example
 * ```ts
 * import { WavSink } from "./sink.ts";
 * const path = await Deno.makeTempFile({ suffix: ".wav" });
 * const sink = await WavSink.open(path, { rate: 8000, channels: 1, bits: 16 });
 * await sink.write(new Uint8Array(16000));
 * await sink.close();
 * console.log((await Deno.stat(path)).size); // 16044
 * ```
 */
export class WavSink implements Sink {
  readonly name: string;
  readonly #format: { rate: number; channels: number; bits: number };
  #file: Deno.FsFile | undefined;
  #bytes = 0;
  #dirty = false;
  private constructor(
    path: string,
    file: Deno.FsFile,
    format: { rate: number; channels: number; bits: number },
  ) {
    this.name = `wav file ${path}`;
    this.#file = file;
    this.#format = format;
  }
  /** Creates (truncates) `path` and writes a header. */
  static async open(
    path: string,
    options: { rate?: number; channels?: number; bits?: number } = {},
  ): Promise<WavSink> {
    const format = validateWav(options);
    const file = await openFile(path, { write: true, create: true, truncate: true });
    await writeAll(file, wavHeader(0, format));
    return new WavSink(path, file, format);
  }
  /** Data bytes written (without the header). */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Appends sample data. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#file) throw new Error(`${this.name}: write after close`);
    await appendSync(this.#file, chunk);
    this.#bytes += chunk.length;
    this.#dirty = true;
  }
  /** Patches the header sizes and `fdatasync`s. */
  async flush(): Promise<void> {
    const f = this.#file;
    if (!f || !this.#dirty) return;
    await f.seek(0, Deno.SeekMode.Start);
    await writeAll(f, wavHeader(this.#bytes, this.#format));
    await f.seek(0, Deno.SeekMode.End);
    await f.syncData();
    this.#dirty = false;
  }
  /** Flushes and closes. */
  async close(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.flush();
    } finally {
      this.#file.close();
      this.#file = undefined;
    }
  }
}

function validateWav(
  o: { rate?: number; channels?: number; bits?: number },
): { rate: number; channels: number; bits: number } {
  const rate = o.rate ?? 48000;
  const channels = o.channels ?? 2;
  const bits = o.bits ?? 16;
  if (!Number.isSafeInteger(rate) || rate <= 0 || rate > 0xffff_ffff / 32) {
    throw new UsageError(`--rate: ${rate} is not a valid sample rate in Hz`, {
      option: "--rate",
      value: String(rate),
    });
  }
  if (!Number.isSafeInteger(channels) || channels <= 0 || channels > 64) {
    throw new UsageError(`--channels: ${channels} is not a channel count from 1 to 64`, {
      option: "--channels",
      value: String(channels),
    });
  }
  if (![8, 16, 24, 32].includes(bits)) {
    throw new UsageError(`--bits: ${bits} is not one of 8, 16, 24, 32`, {
      option: "--bits",
      value: String(bits),
    });
  }
  return { rate, channels, bits };
}

/**
 * A sink that keeps everything in memory (for tests and small scripts).
 *
 * @example
 * ```ts
 * import { MemorySink } from "./sink.ts";
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
 * import { DiscardSink } from "./sink.ts";
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

/**
 * Opens the sink for an output argument: `-` is stdout, a `.wav` name (or
 * `format: "wav"`) a WAV file, anything else a raw file.
 *
 * @example
 * ```ts
 * import { openSink } from "./sink.ts";
 * const path = await Deno.makeTempFile({ suffix: ".wav" });
 * const sink = await openSink(path, { rate: 8000, channels: 1 });
 * console.log(sink.name.startsWith("wav")); // true
 * await sink.close();
 * ```
 */
export async function openSink(target: string, options: OpenSinkOptions = {}): Promise<Sink> {
  const format = options.format ?? (/\.wav$/i.test(target) ? "wav" : "raw");
  if (target === "-") {
    if (format === "wav") {
      throw new UsageError("--format wav cannot go to stdout (its header is patched on close)", {
        option: "--format",
        value: "wav",
      });
    }
    if (Deno.stdout.isTerminal()) {
      throw new UsageError(
        "--out -: refusing to write binary data to a terminal; pipe or redirect it (| xxd, > file)",
        { option: "--out", value: "-" },
      );
    }
    return new StdoutSink();
  }
  if (format === "wav") {
    if (options.append) {
      throw new UsageError("--append works only with --format raw", {
        option: "--append",
      });
    }
    return await WavSink.open(target, options);
  }
  return await FileSink.open(target, { append: options.append });
}
