/**
 * Independent checks of captured data, for the fault tests: written apart
 * from ringdump's own verifier (lib/pattern.ts, lib/verify.ts), so a bug there
 * cannot hide a bug in the capture. The data is the stream {@linkcode
 * fillStreamPage} writes: every 8-byte word holds its own byte offset in the
 * stream, u64 little-endian, so each page says which logical page it is.
 *
 * @module
 */

/**
 * Writes `words` words of logical page `page` of the stream into `dest`
 * (from its start): word `i` holds `page * pageSize + 8 * i`.
 *
 * @example
 * ```ts
 * import { fillStreamPage } from "./page_check.ts";
 * const p = new Uint8Array(32);
 * fillStreamPage(p, 3);
 * console.log(new DataView(p.buffer).getUint32(8, true)); // 104
 * ```
 */
export function fillStreamPage(dest: Uint8Array, page: number, words?: number): void {
  const view = new DataView(dest.buffer, dest.byteOffset, dest.byteLength);
  const base = page * dest.length;
  const n = words ?? dest.length / 8;
  for (let i = 0; i < n; i++) {
    const v = base + 8 * i;
    view.setUint32(8 * i, v % 0x1_0000_0000, true);
    view.setUint32(8 * i + 4, Math.floor(v / 0x1_0000_0000), true);
  }
}

/** What {@linkcode checkPages} found. */
export interface PageReport {
  /** Whole pages in the data. */
  readonly pages: number;
  /** Logical page number of each page of the data, or -1 for a page that is not one page of the stream (torn, stale, garbage). */
  readonly logical: readonly number[];
  /** Indices (in the data) of the pages that are not intact. */
  readonly torn: readonly number[];
  /** Pages whose logical number is not above the one before it (a duplicate or a page out of order). */
  readonly notIncreasing: number;
  /** Logical pages missing between the first and the last intact page. */
  readonly missing: number;
  /** Bytes after the last whole page. */
  readonly tail: number;
}

/**
 * Splits `data` into pages and checks each one: intact when its first word is
 * a page boundary of the stream and every later word follows it by 8.
 *
 * @example
 * ```ts
 * import { checkPages, fillStreamPage } from "./page_check.ts";
 * const d = new Uint8Array(64);
 * fillStreamPage(d.subarray(0, 32), 5);
 * fillStreamPage(d.subarray(32), 7);
 * const r = checkPages(d, 32);
 * console.log(r.logical, r.missing); // [ 5, 7 ] 1
 * ```
 */
export function checkPages(data: Uint8Array, pageSize: number): PageReport {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const pages = Math.floor(data.length / pageSize);
  const logical: number[] = [];
  const torn: number[] = [];
  const word = (at: number) => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  for (let p = 0; p < pages; p++) {
    const off = p * pageSize;
    const first = word(off);
    let ok = first % pageSize === 0;
    for (let i = 8; ok && i < pageSize; i += 8) ok = word(off + i) === first + i;
    if (ok) logical.push(first / pageSize);
    else {
      logical.push(-1);
      torn.push(p);
    }
  }
  let notIncreasing = 0, missing = 0, last = -1;
  for (const n of logical) {
    if (n < 0) continue;
    if (last >= 0) {
      if (n <= last) notIncreasing++;
      else missing += n - last - 1;
    }
    last = Math.max(last, n);
  }
  return { pages, logical, torn, notIncreasing, missing, tail: data.length - pages * pageSize };
}

/** What {@linkcode checkWav} found. */
export interface WavReport {
  /** True when the header is a canonical PCM WAV header whose sizes match the file. */
  readonly valid: boolean;
  /** Why not, when not valid. */
  readonly problem?: string;
  /** The data chunk's size as the header says. */
  readonly dataBytes: number;
  /** The file's size. */
  readonly fileBytes: number;
}

/**
 * Checks that `file` is a WAV a player would play whole: RIFF/WAVE, a 16-byte
 * PCM fmt chunk, and a data chunk whose size, like the RIFF size, matches the
 * bytes in the file.
 *
 * @example
 * ```ts
 * import { checkWav } from "./page_check.ts";
 * console.log(checkWav(new Uint8Array(10)).valid); // false
 * ```
 */
export function checkWav(file: Uint8Array): WavReport {
  const bad = (problem: string, dataBytes = 0): WavReport => ({
    valid: false,
    problem,
    dataBytes,
    fileBytes: file.length,
  });
  if (file.length < 44) return bad(`only ${file.length} bytes: no whole header`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tag = (at: number) => String.fromCharCode(...file.subarray(at, at + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") return bad("no RIFF/WAVE tags");
  if (tag(12) !== "fmt " || v.getUint32(16, true) !== 16 || v.getUint16(20, true) !== 1) {
    return bad("no 16-byte PCM fmt chunk");
  }
  if (tag(36) !== "data") return bad("no data chunk at byte 36");
  const riff = v.getUint32(4, true);
  const data = v.getUint32(40, true);
  if (data !== file.length - 44) {
    return bad(`data size ${data} but the file holds ${file.length - 44} data bytes`, data);
  }
  if (riff !== file.length - 8) {
    return bad(`RIFF size ${riff} for a ${file.length}-byte file`, data);
  }
  const block = v.getUint16(32, true);
  if (block === 0 || data % block !== 0) return bad(`data size ${data} is not whole frames`, data);
  return { valid: true, dataBytes: data, fileBytes: file.length };
}
