/**
 * Measurements 1 and 2 of the bench: the copy ceiling (a devmem capture of a
 * large ring image into a discarding sink, against a plain `copyInto` and
 * `dd` to /dev/null of the same bytes) and the capture to disk (into a file
 * on the work disk, against `dd` into a file; `fdatasync` included in both).
 *
 * @module
 */
import { openDevmem } from "../backends/devmem.ts";
import { DiscardSink, FileSink } from "../lib/sink/mod.ts";
import { type Figure, figure } from "./results.ts";
import { copyIntoReference, createLapRing, ddReference, lapCapture, type Timed } from "./lap.ts";
import { median, MIB, scratchDir, shmDir, workDiskDir } from "./util.ts";

/** Options of {@linkcode copyCeiling} and {@linkcode toDisk}. */
export interface CopyOptions {
  /** Bytes in the ring image. */
  ringBytes: number;
  /** Full rings captured per run. */
  laps: number;
  /** Runs of each (interleaved); the median counts. */
  reps: number;
  /** Where the ring image goes; default /dev/shm. */
  imageDir?: string;
  /** Where the output file goes (to disk only); default the repository's disk. */
  outDir?: string;
}

const mibps = (t: Timed) => t.bytes / t.seconds / MIB;

/** The median of the ratios of runs made back to back (robust to a shared machine's drift). */
function pairedRatio(values: readonly number[], refs: readonly number[]): number {
  return median(values.map((v, i) => v / refs[i]));
}

/**
 * The copy ceiling: devmem capture into a discarding sink vs `copyInto` and
 * vs `dd if=IMG of=/dev/null bs=1M`, all of the same bytes, interleaved.
 *
 * @example
 * ```ts ignore
 * import { copyCeiling } from "./copy.ts";
 * console.log(await copyCeiling({ ringBytes: 1 << 20, laps: 2, reps: 1 }));
 * ```
 */
export async function copyCeiling(options: CopyOptions): Promise<Figure[]> {
  const ring = await createLapRing(options.imageDir ?? shmDir(), options.ringBytes);
  const dumper: number[] = [], copy: number[] = [], dd: number[] = [];
  try {
    // Warm-up: the image's pages are in memory either way; this settles the JIT.
    {
      const backend = await openDevmem(ring.path, { geometry: ring.geometry });
      await lapCapture({ backend, sink: new DiscardSink(), ring, laps: 1 });
      await backend.close();
    }
    for (let i = 0; i < options.reps; i++) {
      const backend = await openDevmem(ring.path, { geometry: ring.geometry });
      try {
        dumper.push(
          mibps(await lapCapture({ backend, sink: new DiscardSink(), ring, laps: options.laps })),
        );
      } finally {
        await backend.close();
      }
      copy.push(mibps(copyIntoReference(ring, options.laps, 4 * MIB)));
      dd.push(mibps(await ddReference(ring, options.laps, "/dev/null")));
    }
  } finally {
    await ring.remove();
  }
  const value = median(dumper);
  const size = `${options.laps} x ${(ring.geometry.ringBytes / MIB).toFixed(0)} MiB ring ` +
    `(${ring.geometry.pageSize / 1024} KiB pages) in ${
      options.imageDir ?? shmDir()
    }, one full lap per period; values: median of ${options.reps}, ratio: median of the ratios of back-to-back runs`;
  const what = "devmem capture -> discard sink (counter read, 4 MiB reads, torn check)";
  return [
    figure({
      name: "copy.vs_copyinto",
      what,
      value,
      unit: "MiB/s",
      refName: "UnsafePointerView.copyInto, 4 MiB chunks",
      refValue: median(copy),
      goal: 0.8,
      ratio: pairedRatio(dumper, copy),
      note: size,
    }),
    figure({
      name: "copy.vs_dd",
      what,
      value,
      unit: "MiB/s",
      refName: "dd if=IMG of=/dev/null bs=1M",
      refValue: median(dd),
      goal: 1.0,
      ratio: pairedRatio(dumper, dd),
      note: size,
    }),
  ];
}

/**
 * The capture to disk: devmem capture into a raw file on the work disk vs
 * `dd if=IMG of=FILE bs=1M`, both ending with `fdatasync`, interleaved.
 *
 * @example
 * ```ts ignore
 * import { toDisk } from "./copy.ts";
 * console.log(await toDisk({ ringBytes: 1 << 20, laps: 2, reps: 1 }));
 * ```
 */
export async function toDisk(options: CopyOptions): Promise<Figure[]> {
  const ring = await createLapRing(options.imageDir ?? shmDir(), options.ringBytes);
  const out = await scratchDir(options.outDir ?? workDiskDir());
  const dumper: number[] = [], dd: number[] = [];
  try {
    // Every run writes a new file and none is removed before the end: on a disk
    // mounted with `discard`, removing a large file stalls the next writer.
    let n = 0;
    const once = async (who: string): Promise<number> => {
      const file = `${out.path}/${who}-${n++}.bin`;
      if (who === "dd") return mibps(await ddReference(ring, options.laps, file));
      const backend = await openDevmem(ring.path, { geometry: ring.geometry });
      const sink = await FileSink.open(file);
      try {
        return mibps(await lapCapture({ backend, sink, ring, laps: options.laps }));
      } finally {
        await sink.close();
        await backend.close();
      }
    };
    // Warm-up of both (the first write of a run is slow whoever makes it).
    await once("ringdump");
    await once("dd");
    for (let i = 0; i < options.reps; i++) {
      // Alternate who goes first: the disk's write-back state is shared.
      for (const who of i % 2 ? ["dd", "ringdump"] : ["ringdump", "dd"]) {
        (who === "dd" ? dd : dumper).push(await once(who));
      }
    }
  } finally {
    await out.remove();
    await ring.remove();
  }
  return [
    figure({
      name: "disk.vs_dd",
      what: "devmem capture -> raw file on the work disk (FileSink), fdatasync at the end",
      value: median(dumper),
      unit: "MiB/s",
      refName: "dd if=IMG of=FILE bs=1M conv=fdatasync",
      refValue: median(dd),
      goal: 1.0,
      ratio: pairedRatio(dumper, dd),
      note:
        `${options.laps} x ${
          (ring.geometry.ringBytes / MIB).toFixed(0)
        } MiB from ${(options.imageDir ?? shmDir())} to ${
          options.outDir ?? workDiskDir()
        }; fdatasync included in both; after a warm-up of each, median of ${options.reps} (ratio: of back-to-back pairs), ` +
        `order alternated, a new file every run`,
    }),
  ];
}
