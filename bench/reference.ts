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
      const hexa = (v: bigint | number) => `0x${v.toString(16)}`;
      // The same ring for both: the reference's flags are ringdump's.
      const geometryArgs = [
        "--base",
        hexa(geometry.base),
        "--page-size",
        String(geometry.pageSize),
        "--pages",
        String(geometry.pages),
        "--counter",
        hexa(geometry.counterAddress),
        "--counter-wrap",
        hexa(geometry.counterWrap),
      ];
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
  let ref: Run, rd: Run;
  try {
    ref = await runOne("reference");
    rd = await runOne("ringdump");
  } finally {
    await shm.remove();
    await disk.remove();
  }
  const secs = options.durationMs / 1000;
  const note =
    `ring ${(options.ringBytes / MIB).toFixed(0)} MiB, writer ${
      (options.rate / MIB).toFixed(1)
    } MiB/s, period ${options.period} ms, ${secs} s each (ringdump: ${
      (rd.bytes / MIB).toFixed(1)
    } MiB; reference: ${(ref.bytes / MIB).toFixed(1)} MiB, it drops the tail); ` +
    `CPU of the whole process tree incl. start-up (deno ${rd.cpu.cpu.toFixed(2)} s, python ${
      ref.cpu.cpu.toFixed(2)
    } s); ${emulators.note}, the same for both`;
  const gib = (r: Run) => r.bytes / (1024 * MIB);
  return [
    figure({
      name: "reference.throughput",
      what: "pixeldump backend capture (ringdump capture CLI), bytes on disk per second",
      value: rd.bytes / secs / MIB,
      unit: "MiB/s",
      refName: "bench/reference_dumper.py (one pixeldump per read)",
      refValue: ref.bytes / secs / MIB,
      goal: 1.0,
      note,
    }),
    figure({
      name: "reference.cpu_per_gib",
      what: "CPU seconds per GiB captured, ringdump capture CLI (pixeldump backend)",
      value: rd.cpu.cpu / gib(rd),
      unit: "CPU s/GiB",
      refName: "bench/reference_dumper.py",
      refValue: ref.cpu.cpu / gib(ref),
      better: "lower",
      goal: 0.7,
      note,
    }),
  ];
}
