/**
 * Test helper for tests with a live writer (`ringdump sim`, the in-process
 * `sim:` device): one ring geometry and rate with seconds of slack, and
 * waits on what a test is waiting for (a file growing) instead of fixed
 * sleeps. A loaded 2-core machine stalls a process for hundreds of ms; a
 * test about correctness must not also be a race against the scheduler.
 *
 * @module
 */

/** Bytes per second the live writer writes. */
export const LIVE_RATE_BYTES = 256 * 1024;

/** {@linkcode LIVE_RATE_BYTES} as a flag / URL value. */
export const LIVE_RATE = "256KiB";

/** Pages of 4 KiB in the live ring: 768 KiB, 3 s of the writer. */
export const LIVE_PAGES = 192;

/** The counter wraps every 208 pages (3.25 s): a 4 s capture sees the ring lap and the counter wrap. */
export const LIVE_COUNTER_WRAP = "0xd0";

/** The geometry flags of the live ring (`capture` and `sim` take the same). */
export const LIVE_GEOMETRY: readonly string[] = [
  "--page-size",
  "4KiB",
  "--pages",
  String(LIVE_PAGES),
  "--counter-wrap",
  LIVE_COUNTER_WRAP,
];

/** Seconds a reader may stall before the live writer laps it. */
export const LIVE_SLACK_SECONDS = (LIVE_PAGES * 4096) / LIVE_RATE_BYTES;

/**
 * Waits until `check` returns true, polling every 25 ms; throws after
 * `timeout` ms (default 30 s) naming `what`.
 *
 * @example
 * ```ts
 * import { waitFor } from "./live.ts";
 * let n = 0;
 * await waitFor(() => ++n >= 3, { what: "three polls" });
 * console.log(n); // 3
 * ```
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { timeout?: number; what?: string } = {},
): Promise<void> {
  const deadline = performance.now() + (options.timeout ?? 30_000);
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(
        `timed out after ${options.timeout ?? 30_000} ms waiting for ${options.what}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The size of `path` in bytes, 0 when it does not exist. Through `stat(1)`,
 * so it works under /dev/shm too (Deno's file API needs --allow-all there).
 *
 * @example
 * ```ts
 * import { fileSize } from "./live.ts";
 * console.log(await fileSize("/nonexistent")); // 0
 * ```
 */
export async function fileSize(path: string): Promise<number> {
  const r = await new Deno.Command("stat", {
    args: ["-L", "-c", "%s", path],
    stdout: "piped",
    stderr: "null",
  }).output();
  return r.code === 0 ? Number(new TextDecoder().decode(r.stdout).trim()) : 0;
}

/**
 * Waits until `path` holds at least `bytes` bytes (a capture is running and
 * writing), at most `timeout` ms (default 30 s).
 *
 * @example
 * ```ts
 * import { waitForSize } from "./live.ts";
 * const f = await Deno.makeTempFile();
 * await Deno.writeFile(f, new Uint8Array(10));
 * await waitForSize(f, 10);
 * await Deno.remove(f);
 * ```
 */
export async function waitForSize(
  path: string,
  bytes: number,
  options: { timeout?: number } = {},
): Promise<void> {
  await waitFor(async () => await fileSize(path) >= bytes, {
    timeout: options.timeout,
    what: `${path} to reach ${bytes} bytes`,
  });
}
