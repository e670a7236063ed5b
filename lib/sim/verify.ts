/**
 * Verification of a capture of the `counter` test pattern: every 8-byte word
 * must hold its own byte offset in the device's stream, so a capture is
 * contiguous exactly when each word is the previous one plus 8.
 *
 * @module
 */
import { checkCounter } from "./pattern.ts";
import { errorMessage, UsageError, VerifyError } from "../errors.ts";
import { hex } from "../units.ts";

/** Result of a successful {@linkcode verifyCounterFile}. */
export interface VerifyResult {
  /** Bytes in the file. */
  readonly bytes: number;
  /** Stream offset of the first byte. */
  readonly firstOffset: bigint;
  /** Stream offset one past the last byte. */
  readonly endOffset: bigint;
}

/**
 * Checks a `counter`-pattern capture file. Resolves with the stream range it
 * covers when contiguous; rejects with a {@linkcode VerifyError} naming the
 * first gap or mismatch otherwise.
 *
 * @example
 * ```ts
 * import { verifyCounterFile } from "./verify.ts";
 * import { fillCounter } from "./pattern.ts";
 * const path = await Deno.makeTempFile();
 * const data = new Uint8Array(4096);
 * fillCounter(data, 8192);
 * await Deno.writeFile(path, data);
 * const r = await verifyCounterFile(path);
 * console.log(r.firstOffset, r.endOffset); // 8192n 12288n
 * await Deno.remove(path);
 * ```
 */
export async function verifyCounterFile(
  path: string,
  options: { chunkBytes?: number } = {},
): Promise<VerifyResult> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new UsageError(`verify: cannot open '${path}': ${errorMessage(e)}`, {
      option: "FILE",
      value: path,
      cause: e,
    });
  }
  if (!(await file.stat()).isFile) {
    file.close();
    throw new UsageError(`verify: '${path}' is not a regular file; give the capture file`, {
      option: "FILE",
      value: path,
    });
  }
  const chunk = new Uint8Array(Math.max(8, (options.chunkBytes ?? 4 << 20) & ~7));
  let fill = 0;
  let total = 0;
  let previous: bigint | undefined;
  let first: bigint | undefined;
  try {
    for (;;) {
      const n = await file.read(chunk.subarray(fill));
      if (n !== null) fill += n;
      const eof = n === null;
      if (fill === chunk.length || (eof && fill > 0)) {
        const whole = fill & ~7;
        const r = checkCounter(chunk.subarray(0, whole), { previous });
        if (first === undefined && whole > 0) first = r.firstOffset;
        if (!r.ok) {
          const at = total + (r.badAt ?? 0);
          if (at <= 8) {
            // The very first words disagree: not a capture with a gap, not the pattern at all.
            throw new VerifyError(
              `'${path}' is not a capture of the counter pattern: its first 8-byte words ` +
                `(${hex(r.expected! - 8n)}, then ${hex(r.found!)}) are not consecutive stream ` +
                `offsets. verify checks captures of 'sim:?pattern=counter' or 'ringdump sim ` +
                `--pattern counter'; a WAV, the sine tone or real hardware data cannot be verified`,
              { offset: at, expected: r.expected!, found: r.found! },
            );
          }
          throw new VerifyError(
            `not contiguous at file offset ${at} (${hex(at)}): expected stream offset ${
              hex(r.expected!)
            }, found ${hex(r.found!)}` +
              (r.found! > r.expected! && (r.found! - r.expected!) % 8n === 0n
                ? ` (a gap of ${r.found! - r.expected!} bytes)`
                : ""),
            { offset: at, expected: r.expected!, found: r.found! },
          );
        }
        if (whole > 0) previous = r.endOffset - 8n;
        total += whole;
        if (whole !== fill) {
          if (!eof) chunk.copyWithin(0, whole, fill);
          fill -= whole;
        } else fill = 0;
      }
      if (eof) break;
    }
  } finally {
    file.close();
  }
  if (fill !== 0) {
    throw new VerifyError(
      `file ends with a partial word: ${fill} bytes after offset ${total}; a counter-pattern capture is a whole number of 8-byte words`,
      { offset: total, expected: previous === undefined ? 0n : previous + 8n, found: -1n },
    );
  }
  if (first === undefined) {
    throw new VerifyError(`'${path}' is empty: nothing was captured`, {
      offset: 0,
      expected: 0n,
      found: -1n,
    });
  }
  return { bytes: total, firstOffset: first, endOffset: first + BigInt(total) };
}
