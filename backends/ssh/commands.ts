/**
 * The remote command lines of the `ssh://` backend: shell quoting, and the
 * block size of a `dd` read that busybox dd can do.
 *
 * @module
 */

/**
 * Quotes a string for a POSIX shell: `'...'` with every `'` as `'\''`.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./commands.ts";
 * console.log(shellQuote("/dev/shm/a 'b'.img")); // '/dev/shm/a '\''b'\''.img'
 * ```
 */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * The `dd` block size for reading `length` bytes at byte `offset`: a common
 * divisor of both (so `skip` and `count` are whole blocks, as busybox dd
 * needs), at most 1 MiB when a power of two allows.
 *
 * @example
 * ```ts
 * import { ddBlockSize } from "./commands.ts";
 * console.log(ddBlockSize(0x30000n, 0x8000)); // 32768
 * ```
 */
export function ddBlockSize(offset: bigint, length: number): number {
  let bs = gcd(offset, BigInt(length));
  while (bs > 1n << 20n && bs % 2n === 0n) bs /= 2n;
  return Number(bs);
}
