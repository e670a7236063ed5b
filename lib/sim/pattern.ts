/**
 * The data patterns a simulated device writes, as pure functions of the byte
 * offset in the stream: `counter` (every 8-byte word holds its own byte offset
 * in the stream, u64 little-endian: self-checking) and `sine` (a 16-bit PCM
 * tone, so a demo capture is audible). Also the checker for `counter` data.
 *
 * @module
 */

/** Names of the patterns. */
export type PatternName = "counter" | "sine";

/** Options of the `sine` pattern. */
export interface SineOptions {
  /** Tone frequency in Hz; default 440. */
  frequency?: number;
  /** Sample rate in Hz; default 48000. */
  sampleRate?: number;
  /** Interleaved channels; default 2. */
  channels?: number;
  /** Peak amplitude as a fraction of full scale; default 0.25. */
  amplitude?: number;
}

/**
 * Fills `dest` with the `counter` pattern for the stream bytes starting at
 * `streamOffset` (which must be a multiple of 8, as must `dest.length`).
 *
 * @example
 * ```ts
 * import { fillCounter } from "./pattern.ts";
 * const page = new Uint8Array(16);
 * fillCounter(page, 4096);
 * console.log(new DataView(page.buffer).getBigUint64(8, true)); // 4104n
 * ```
 */
export function fillCounter(dest: Uint8Array, streamOffset: number): void {
  if (streamOffset % 8 !== 0 || dest.length % 8 !== 0 || dest.byteOffset % 4 !== 0) {
    throw new RangeError("counter pattern needs 8-byte aligned offsets and lengths");
  }
  const words = new Uint32Array(dest.buffer, dest.byteOffset, dest.length / 4);
  let lo = streamOffset % 0x1_0000_0000;
  let hi = Math.floor(streamOffset / 0x1_0000_0000);
  for (let i = 0; i < words.length; i += 2) {
    words[i] = lo;
    words[i + 1] = hi;
    lo += 8;
    if (lo >= 0x1_0000_0000) {
      lo -= 0x1_0000_0000;
      hi++;
    }
  }
}

/**
 * Fills `dest` with a 16-bit little-endian PCM sine tone for the stream bytes
 * starting at `streamOffset` (a multiple of the frame size `2 * channels`).
 *
 * @example
 * ```ts
 * import { fillSine } from "./pattern.ts";
 * const buf = new Uint8Array(4 * 480);
 * fillSine(buf, 0, { frequency: 1000 });
 * console.log(new Int16Array(buf.buffer)[0]); // 0
 * ```
 */
export function fillSine(dest: Uint8Array, streamOffset: number, options: SineOptions = {}): void {
  const frequency = options.frequency ?? 440;
  const sampleRate = options.sampleRate ?? 48000;
  const channels = options.channels ?? 2;
  const amp = Math.round((options.amplitude ?? 0.25) * 32767);
  const frame = 2 * channels;
  const view = new DataView(dest.buffer, dest.byteOffset, dest.byteLength);
  const first = Math.floor(streamOffset / frame);
  const frames = Math.floor(dest.length / frame);
  const step = (2 * Math.PI * frequency) / sampleRate;
  for (let f = 0; f < frames; f++) {
    // Reduce the phase modulo one period so long streams keep full precision.
    const n = (first + f) % sampleRate;
    const v = Math.round(amp * Math.sin(step * n));
    for (let c = 0; c < channels; c++) view.setInt16(f * frame + c * 2, v, true);
  }
}

/** Result of {@linkcode checkCounter}. */
export interface CounterCheck {
  /** True when every word holds the previous word's value plus 8. */
  readonly ok: boolean;
  /** Stream offset held by the first word. */
  readonly firstOffset: bigint;
  /** Stream offset one past the last checked byte (when ok, first + bytes). */
  readonly endOffset: bigint;
  /** Byte offset within the checked data of the first bad word, when not ok. */
  readonly badAt?: number;
  /** Value the bad word should have held. */
  readonly expected?: bigint;
  /** Value the bad word held. */
  readonly found?: bigint;
}

/**
 * Checks that `data` is a contiguous run of the `counter` pattern, each word
 * following `previous` (the value of the word before `data`, if any).
 *
 * @example
 * ```ts
 * import { checkCounter, fillCounter } from "./pattern.ts";
 * const buf = new Uint8Array(64);
 * fillCounter(buf, 800);
 * console.log(checkCounter(buf).ok); // true
 * ```
 */
export function checkCounter(data: Uint8Array, options: { previous?: bigint } = {}): CounterCheck {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const words = Math.floor(data.length / 8);
  let expected = options.previous === undefined ? undefined : options.previous + 8n;
  const first = words > 0 ? view.getBigUint64(0, true) : (expected ?? 0n);
  // Fast path on 32-bit halves; fall back to bigint only on a mismatch.
  let lo = -1;
  let hi = -1;
  if (expected !== undefined) {
    lo = Number(expected & 0xffff_ffffn);
    hi = Number(expected >> 32n);
  } else if (words > 0) {
    lo = view.getUint32(0, true);
    hi = view.getUint32(4, true);
  }
  for (let i = 0; i < words; i++) {
    const l = view.getUint32(i * 8, true);
    const h = view.getUint32(i * 8 + 4, true);
    if (l !== lo || h !== hi) {
      const exp = (BigInt(hi) << 32n) | BigInt(lo);
      return {
        ok: false,
        firstOffset: first,
        endOffset: exp,
        badAt: i * 8,
        expected: exp,
        found: (BigInt(h) << 32n) | BigInt(l),
      };
    }
    lo += 8;
    if (lo >= 0x1_0000_0000) {
      lo -= 0x1_0000_0000;
      hi++;
    }
  }
  expected = (BigInt(hi) << 32n) | BigInt(lo);
  return { ok: true, firstOffset: first, endOffset: words > 0 ? expected : first };
}
