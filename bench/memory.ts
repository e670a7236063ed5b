/**
 * Measurement 7 of the bench: peak RSS (VmHWM) of a capture subprocess, a
 * long one against one a quarter as long (it must not grow with the length),
 * and a traced one against the untraced one.
 *
 * @module
 */
import { createLapRing, type LapRing } from "./lap.ts";
import { type Figure, figure } from "./results.ts";
import { MIB, ROOT, runOk, scratchDir, shmDir } from "./util.ts";

/** Options of {@linkcode memoryPeak}. */
export interface MemoryOptions {
  /** Ring bytes (the mapped image counts in RSS as it is read: keep it small). */
  ringBytes: number;
  /** Bytes of the short capture; the long one is 4 times that. */
  shortBytes: number;
}

/** What a capture subprocess reports. */
export interface ChildReport {
  /** Bytes captured. */
  readonly bytes: number;
  /** Capture time, s. */
  readonly seconds: number;
  /** VmHWM, bytes. */
  readonly peak: number;
  /** VmRSS at the end, bytes. */
  readonly current: number;
}

/**
 * Runs bench/capture_child.ts on `ring` for `laps` laps, traced into `trace` if given.
 *
 * @example
 * ```ts ignore
 * import { runCaptureChild } from "./memory.ts";
 * ```
 */
export async function runCaptureChild(
  ring: LapRing,
  laps: number,
  trace?: string,
): Promise<ChildReport> {
  const r = await runOk([
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}bench/capture_child.ts`,
    ring.path,
    String(ring.geometry.ringBytes),
    String(laps),
    ...(trace ? [trace] : []),
  ]);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as ChildReport;
}

/**
 * The memory figures.
 *
 * @example
 * ```ts ignore
 * import { memoryPeak } from "./memory.ts";
 * console.log(await memoryPeak({ ringBytes: 8 << 20, shortBytes: 64 << 20 }));
 * ```
 */
export async function memoryPeak(options: MemoryOptions): Promise<Figure[]> {
  const ring = await createLapRing(shmDir(), options.ringBytes);
  const dir = await scratchDir(shmDir());
  try {
    const shortLaps = Math.max(1, Math.round(options.shortBytes / ring.geometry.ringBytes));
    const short = await runCaptureChild(ring, shortLaps);
    const long = await runCaptureChild(ring, 4 * shortLaps);
    const traced = await runCaptureChild(ring, 4 * shortLaps, `${dir.path}/trace.json`);
    const gib = (r: ChildReport) =>
      r.bytes >= 1024 * MIB
        ? `${(r.bytes / (1024 * MIB)).toFixed(1)} GiB`
        : `${(r.bytes / MIB).toFixed(0)} MiB`;
    const mib = (b: number) => b / MIB;
    const ringNote = `devmem -> discard, ring ${
      (ring.geometry.ringBytes / MIB).toFixed(0)
    } MiB in ${shmDir()} (its mapped pages count in RSS)`;
    return [
      figure({
        name: "memory.long_vs_short",
        what: `peak RSS of a ${gib(long)} capture subprocess`,
        value: mib(long.peak),
        unit: "MiB",
        refName: `peak RSS of a ${gib(short)} capture`,
        refValue: mib(short.peak),
        better: "lower",
        goal: 1.1,
        note: ringNote,
      }),
      figure({
        name: "memory.traced_vs_untraced",
        what: `peak RSS of a ${gib(traced)} capture traced into a JSON file`,
        value: mib(traced.peak),
        unit: "MiB",
        refName: `the same capture untraced`,
        refValue: mib(long.peak),
        better: "lower",
        goal: 1.1,
        note: ringNote,
      }),
    ];
  } finally {
    await dir.remove();
    await ring.remove();
  }
}
