/**
 * Measurement 4 of the bench: ringdump's pixeldump backend against
 * bench/reference_dumper.py (one pixeldump subprocess per read, as the
 * reference MemoryDumper), on the same emulators, the same kind of live
 * `ringdump sim` writer and image, the same period: throughput and CPU
 * seconds per GiB (of each whole process tree, measured the same way).
 *
 * @module
 */
import { ringGeometry } from "../lib/ring.ts";
import { emulatorEnv } from "./backends.ts";
import { type Figure, figure } from "./results.ts";
import {
  benchEmulators,
  type CpuResult,
  geometryFlags,
  median,
  MIB,
  pythonBin,
  ringdumpArgv,
  ROOT,
  runWithCpu,
  scratchDir,
  shmDir,
  startSim,
  workDiskDir,
} from "./util.ts";

/** Options of {@linkcode referenceBaseline}. */
export interface ReferenceOptions {
  /** Ring bytes (4 KiB pages). */
  ringBytes: number;
  /** Period of both dumpers, ms (the reference's own is 1 s). */
  period: number;
  /** Capture length, ms. */
  durationMs: number;
  /**
   * Writer rate, bytes/s. Two periods of it must fit in the ring: the
   * reference's overlap check fails as soon as they do not.
   */
  rate: number;
  /**
   * Pairs of runs (the reference and ringdump back to back, in alternating
   * order); the ratios are the medians of the pairs'. Default 1. One pair
   * swung from 0.68 to 0.97 between two runs of the same code here (the
   * reference's own CPU per GiB from 11.4 to 14.6).
   */
  pairs?: number;
}

interface Run {
  bytes: number;
  cpu: CpuResult;
}

/**
 * Runs both dumpers, one after the other, each against a fresh writer.
 *
 * @example
 * ```ts ignore
 * import { referenceBaseline } from "./reference.ts";
 * console.log(await referenceBaseline({ ringBytes: 4 << 20, period: 500, durationMs: 2000, rate: 2 << 20 }));
 * ```
 */
export async function referenceBaseline(options: ReferenceOptions): Promise<Figure[]> {
  const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: options.ringBytes / 4096 });
  const shm = await scratchDir(shmDir());
  const disk = await scratchDir(workDiskDir());
  const emulators = await benchEmulators();
  const runOne = async (who: "reference" | "ringdump"): Promise<Run> => {
    const image = `${shm.path}/${who}.img`;
    const out = `${disk.path}/${who}.bin`;
    const sim = await startSim({
      image,
      geometry,
      rate: options.rate,
      duration: options.durationMs + 60_000,
    });
    try {
      // The same ring for both: the reference's flags are ringdump's.
      const geometryArgs = geometryFlags(geometry);
      const argv = who === "reference"
        ? [
          await pythonBin(),
          `${ROOT}bench/reference_dumper.py`,
          "--out",
          out,
          ...geometryArgs,
          "--period",
          String(options.period / 1000),
          "--duration",
          String(options.durationMs / 1000),
          "--pixeldump",
          emulators.pixeldump,
          "--devmem",
          emulators.devmem,
        ]
        : ringdumpArgv([
          "capture",
          "--backend",
          `pixeldump:?bin=${emulators.pixeldump}&reg=${emulators.devmem}`,
          ...geometryArgs,
          "--period",
          `${options.period}ms`,
          "--duration",
          `${options.durationMs}ms`,
          "--format",
          "raw",
          "--no-progress",
          "--out",
          out,
        ]);
      const cpu = await runWithCpu(argv, { env: emulatorEnv(image) });
      if (cpu.code !== 0) {
        throw new Error(
          `${who} dumper exited with ${cpu.code}: ${cpu.stderr.trim()} ${cpu.stdout.trim()}`,
        );
      }
      const bytes = (await Deno.stat(out)).size;
      await Deno.remove(out);
      return { bytes, cpu };
    } finally {
      await sim.stop();
      await Deno.remove(image).catch(() => {});
    }
  };
  const refs: Run[] = [], rds: Run[] = [];
  try {
    for (let i = 0; i < Math.max(1, options.pairs ?? 1); i++) {
      // Order alternated: the second run of a pair may find the machine warmer or busier.
      if (i % 2 === 0) {
        refs.push(await runOne("reference"));
        rds.push(await runOne("ringdump"));
      } else {
        rds.push(await runOne("ringdump"));
        refs.push(await runOne("reference"));
      }
    }
  } finally {
    await shm.remove();
    await disk.remove();
  }
  const secs = options.durationMs / 1000;
  const gib = (r: Run) => r.bytes / (1024 * MIB);
  const rate = (r: Run) => r.bytes / secs / MIB;
  const cpuPerGib = (r: Run) => r.cpu.cpu / gib(r);
  // The pair whose CPU ratio is the median, for the note's absolute values.
  const cpuRatios = rds.map((r, i) => cpuPerGib(r) / cpuPerGib(refs[i]));
  const m = median(cpuRatios);
  const mid = cpuRatios.reduce(
    (best, r, i) => Math.abs(r - m) < Math.abs(cpuRatios[best] - m) ? i : best,
    0,
  );
  const rd = rds[mid], ref = refs[mid];
  const note =
    `ring ${(options.ringBytes / MIB).toFixed(0)} MiB, writer ${
      (options.rate / MIB).toFixed(1)
    } MiB/s, period ${options.period} ms, ${secs} s each (ringdump: ${
      (rd.bytes / MIB).toFixed(1)
    } MiB; reference: ${(ref.bytes / MIB).toFixed(1)} MiB, it drops the tail); ` +
    `CPU of the whole process tree incl. start-up (deno ${rd.cpu.cpu.toFixed(2)} s, python ${
      ref.cpu.cpu.toFixed(2)
    } s, the median pair's); ${emulators.note}, the same for both; ${rds.length} pairs in alternating order, ratios the medians of the pairs' (CPU: ${
      cpuRatios.map((r) => r.toFixed(2)).join(", ")
    })`;
  return [
    figure({
      name: "reference.throughput",
      what: "pixeldump backend capture (ringdump capture CLI), bytes on disk per second",
      value: median(rds.map(rate)),
      unit: "MiB/s",
      refName: "bench/reference_dumper.py (one pixeldump per read)",
      refValue: median(refs.map(rate)),
      ratio: median(rds.map((r, i) => rate(r) / rate(refs[i]))),
      goal: 1.0,
      note,
    }),
    figure({
      name: "reference.cpu_per_gib",
      what: "CPU seconds per GiB captured, ringdump capture CLI (pixeldump backend)",
      value: median(rds.map(cpuPerGib)),
      unit: "CPU s/GiB",
      refName: "bench/reference_dumper.py",
      refValue: median(refs.map(cpuPerGib)),
      ratio: median(cpuRatios),
      better: "lower",
      goal: 0.7,
      note,
    }),
  ];
}
