/**
 * Parsing of the numbers, sizes and durations users type: hex (`0x1000`),
 * size suffixes (`64KiB`, `8MiB`, `1G`), durations (`50ms`, `1s`, `2m`).
 * Pure functions; every error is a {@linkcode UsageError} that names the
 * option and says what is accepted.
 *
 * @module
 */
import { UsageError } from "./errors.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** A negative value is a number all right, just not one these options take: say so. */
function negative(t: string, text: string, what: string, kind: string): void {
  if (/^-\s*[0-9.]/.test(t)) {
    throw new UsageError(`${what}: '${text}' is negative; give ${kind} from 0 up`, {
      option: what,
      value: text,
    });
  }
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  "": 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/**
 * Parses an unsigned integer that may be decimal, hex (`0x`), octal (`0o`)
 * or binary (`0b`), with optional `_` separators, into a bigint.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./units.ts";
 * console.log(parseAddress("0x1000_0000")); // 268435456n
 * ```
 */
export function parseAddress(text: string, options: { option?: string } = {}): bigint {
  const t = text.trim().replaceAll("_", "");
  negative(t, text, options.option ?? "value", "a number");
  if (!/^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[0-9]+)$/i.test(t)) {
    throw new UsageError(
      `${options.option ?? "value"}: '${text}' is not a number; use decimal or hex like 0x10000000`,
      { option: options.option, value: text },
    );
  }
  return BigInt(t.toLowerCase());
}

/**
 * Parses an unsigned integer (decimal or hex) into a safe JavaScript number.
 *
 * @example
 * ```ts
 * import { parseInteger } from "./units.ts";
 * console.log(parseInteger("0x10000")); // 65536
 * ```
 */
export function parseInteger(text: string, options: { option?: string } = {}): number {
  const v = parseAddress(text, options);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`${options.option ?? "value"}: '${text}' is too large`, {
      option: options.option,
      value: text,
    });
  }
  return Number(v);
}

/**
 * Parses a byte size: a number (decimal or hex) with an optional suffix
 * `K`/`KiB` (1024), `KB` (1000), `M`/`MiB`, `MB`, `G`/`GiB`, `GB`, `T`...
 * Fractions are allowed with a suffix (`1.5MiB`) and must give whole bytes.
 *
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * console.log(parseSize("64KiB")); // 65536
 * console.log(parseSize("0x1000")); // 4096
 * ```
 */
export function parseSize(text: string, options: { option?: string } = {}): number {
  const t = text.trim().replaceAll("_", "");
  const what = options.option ?? "size";
  const bad = () =>
    new UsageError(
      `${what}: '${text}' is not a size; use bytes or a suffix, like 4096, 0x1000, 64KiB, 8MiB, 1GiB`,
      { option: options.option, value: text },
    );
  negative(t, text, what, "a size");
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInteger(t, options);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(t);
  if (!m) throw bad();
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) throw bad();
  const v = Number(m[1]) * unit;
  if (!Number.isSafeInteger(v)) {
    throw new UsageError(`${what}: '${text}' is not a whole number of bytes`, {
      option: options.option,
      value: text,
    });
  }
  return v;
}

/**
 * Parses a data rate in bytes per second: a size (see {@linkcode parseSize}),
 * optionally followed by `/s` as `ringdump backends` prints it (`4MiB/s`).
 *
 * @example
 * ```ts
 * import { parseRate } from "./units.ts";
 * console.log(parseRate("4MiB/s"), parseRate("4MiB")); // 4194304 4194304
 * ```
 */
export function parseRate(text: string, options: { option?: string } = {}): number {
  try {
    return parseSize(text.trim().replace(/\s*\/\s*s(ec)?$/i, ""), options);
  } catch (e) {
    if (!(e instanceof UsageError) || !/ is not a size;/.test(e.message)) throw e;
    throw new UsageError(
      `${options.option ?? "rate"}: '${text}' is not a rate; use bytes per second, like 262144, ` +
        `256KiB, 4MiB or 4MiB/s`,
      { option: options.option, value: text },
    );
  }
}

/**
 * Parses a duration into milliseconds: `50ms`, `1s`, `1.5s`, `2m`, `250us`;
 * a bare number is seconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./units.ts";
 * console.log(parseDuration("50ms")); // 50
 * console.log(parseDuration("2")); // 2000
 * ```
 */
export function parseDuration(text: string, options: { option?: string } = {}): number {
  negative(text.trim(), text, options.option ?? "duration", "a duration");
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zµ]*)\s*$/i.exec(text);
  const unit = m ? DURATION_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UsageError(
      `${options.option ?? "duration"}: '${text}' is not a duration; use e.g. 50ms, 1s, 1.5s, 2m`,
      { option: options.option, value: text },
    );
  }
  return Number(m[1]) * unit;
}

/**
 * Formats a byte count for humans with binary units, with `digits`
 * decimals (default 2) above bytes.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./units.ts";
 * console.log(formatBytes(1536), formatBytes(1536, { digits: 1 })); // "1.50 KiB" "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number, options: { digits?: number } = {}): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = options.digits ?? 2;
  if (i > 0) return `${v.toFixed(digits)} ${units[i]}`;
  return Number.isInteger(v) ? `${v} B` : `${v.toFixed(digits)} B`;
}

/**
 * Formats an address as `0x` hex.
 *
 * @example
 * ```ts
 * import { hex } from "./units.ts";
 * console.log(hex(4096n)); // "0x1000"
 * ```
 */
export function hex(value: bigint | number): string {
  return "0x" + value.toString(16);
}

/**
 * `n` and the noun, plural unless `n` is 1: "1 page", "2 pages".
 *
 * @example
 * ```ts
 * import { plural } from "./units.ts";
 * console.log(plural(1, "page"), plural(3, "period")); // "1 page" "3 periods"
 * ```
 */
export function plural(n: number, noun: string, nouns: string = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
