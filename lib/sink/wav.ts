/**
 * The WAV file sink: header sizes patched after every append, so the file is
 * a valid WAV at every moment, even after a kill or a power cut.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Sink } from "./types.ts";
import { openFile, OutputFile, writeAll } from "./file.ts";
import { outputError } from "./output_error.ts";

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
 * patched after every append, so the file is a valid WAV at every moment.
 *
 * @example
 * ```ts
 * import { WavSink } from "./wav.ts";
 * const path = await Deno.makeTempFile({ suffix: ".wav" });
 * const sink = await WavSink.open(path, { rate: 8000, channels: 1, bits: 16 });
 * await sink.write(new Uint8Array(16000));
 * await sink.close();
 * console.log((await Deno.stat(path)).size); // 16044
 * await Deno.remove(path);
 * ```
 */
export class WavSink implements Sink {
  readonly name: string;
  readonly #format: { rate: number; channels: number; bits: number };
  readonly #out: OutputFile;
  readonly #size = new Uint8Array(4);
  private constructor(
    path: string,
    file: Deno.FsFile,
    format: { rate: number; channels: number; bits: number },
  ) {
    this.name = `wav file ${path}`;
    this.#out = new OutputFile(path, file);
    this.#format = format;
  }
  /** Creates (truncates) `path` and writes a header. */
  static async open(
    path: string,
    options: { rate?: number; channels?: number; bits?: number } = {},
  ): Promise<WavSink> {
    const format = validateWav(options);
    const file = await openFile(path, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, wavHeader(0, format));
    } catch (e) {
      file.close();
      throw outputError(e, { output: path, bytes: 0 });
    }
    return new WavSink(path, file, format);
  }
  /** Data bytes written (without the header). */
  get bytesWritten(): number {
    return this.#out.bytes;
  }
  /**
   * Appends sample data, then patches the header's RIFF and data sizes (two
   * small positional writes): the file is a valid WAV of everything appended
   * at every moment, so a killed capture leaves one that plays.
   */
  write(chunk: Uint8Array): Promise<void> {
    return this.#out.append(chunk, { name: this.name, after: (f, bytes) => this.#patch(f, bytes) });
  }
  #patch(f: Deno.FsFile, bytes: number): void {
    const data = Math.min(bytes, 0xffff_ffff - 36);
    const v = new DataView(this.#size.buffer);
    v.setUint32(0, 36 + data, true);
    f.seekSync(4, Deno.SeekMode.Start);
    f.writeSync(this.#size);
    v.setUint32(0, data, true);
    f.seekSync(40, Deno.SeekMode.Start);
    f.writeSync(this.#size);
    f.seekSync(0, Deno.SeekMode.End);
  }
  /** `fdatasync`s (the header is patched already; a device has nothing to sync). */
  flush(): Promise<void> {
    return this.#out.sync();
  }
  /** Flushes and closes; after a write error, closes without a second error. */
  close(): Promise<void> {
    return this.#out.close();
  }
}

/**
 * Validates WAV format options and fills in their defaults (48000 Hz, 2
 * channels, 16 bits); a bad one is a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { validateWav } from "./wav.ts";
 * console.log(validateWav({ rate: 8000 })); // { rate: 8000, channels: 2, bits: 16 }
 * ```
 */
export function validateWav(
  o: { rate?: number; channels?: number; bits?: number },
): { rate: number; channels: number; bits: number } {
  const rate = o.rate ?? 48000;
  const channels = o.channels ?? 2;
  const bits = o.bits ?? 16;
  if (!Number.isSafeInteger(rate) || rate <= 0 || rate > 0xffff_ffff / 32) {
    throw new UsageError(
      `WAV sample rate ${rate} is not valid: give a whole number of Hz from 1 to ${
        0xffff_ffff / 32 | 0
      }`,
      {
        option: "sampleRate",
        value: String(rate),
      },
    );
  }
  if (!Number.isSafeInteger(channels) || channels <= 0 || channels > 64) {
    throw new UsageError(`channels: ${channels} is not a channel count from 1 to 64`, {
      option: "channels",
      value: String(channels),
    });
  }
  if (![8, 16, 24, 32].includes(bits)) {
    throw new UsageError(`bits: ${bits} is not one of 8, 16, 24, 32`, {
      option: "bits",
      value: String(bits),
    });
  }
  return { rate, channels, bits };
}
