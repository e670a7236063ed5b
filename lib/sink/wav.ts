/**
 * The WAV file sink: header sizes patched on flush and close, so even a
 * stopped or failed capture is a valid WAV.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Sink } from "./types.ts";
import { appendSync, openFile, writeAll } from "./file.ts";

/** Bytes of the canonical WAV header written by {@linkcode WavSink}. */
export const WAV_HEADER_BYTES = 44;

/**
 * Builds a canonical 44-byte PCM WAV header.
 *
 * @example
 * ```ts
 * import { wavHeader } from "./wav.ts";
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
 * import { WavSink } from "./wav.ts";
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
