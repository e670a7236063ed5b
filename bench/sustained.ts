/**
 * Measurement 3 of the bench: the highest rate of a live `ringdump sim`
 * writer at which a capture of a ring of R bytes with a period P loses
 * nothing, found by bisection, per backend, as a fraction of the ideal R/P.
 *
 * @module
 */
import { errorMessage } from "../lib/errors.ts";
import { ringGeometry } from "../lib/ring.ts";
import { type BenchBackend, benchBackendUrl, withSshd } from "./backends.ts";
import { type Figure, figure, skipped } from "./results.ts";
import {
  benchEmulators,
  geometryFlags,
  MIB,
  ringdumpArgv,
  run,
  scratchDir,
  shmDir,
  startSim,
} from "./util.ts";
import type { Sshd } from "../testing/sshd.ts";

/** Options of {@linkcode sustainedRate}. */
export interface SustainedOptions {
  /** Backends to measure. */
  backends: readonly BenchBackend[];
  /** Ring bytes R (whole pages of `pageSize`). */
  ringBytes: number;
  /** Page size; default 4096. */
  pageSize?: number;
  /** Period P, ms. */
  period: number;
  /** Length of each capture, ms (the issue's figure: 10 s). */
  captureMs: number;
  /** Bisection steps (resolution 2^-steps of the span bisected). */
  steps: number;
  /**
   * Bisection steps of the fixed-period figures over [0, 1] of R/P; default
   * `steps`. Their goals (0.9, 0.95) sit near the ceiling (1 less the poll's
   * own time), so 4 steps (0.9375 just below 1) cannot show 0.95 met.
   */
  fixedSteps?: number;
  /**
   * Also measure adaptive polling (the default): bisect over [0, upTo] of
   * R/P, upTo per backend; none when absent.
   */
  adaptive?: Readonly<Partial<Record<BenchBackend, number>>>;
}

/** One capture at one rate: whether it lost nothing. */
export interface Trial {
  /** Writer rate as a fraction of R/P. */
  readonly fraction: number;
  /** True when nothing was lost. */
  readonly ok: boolean;
  /** Worst headroom seen. */
  readonly headroom: number;
  /** Bytes captured. */
  readonly bytes: number;
}

/** The summary line of `ringdump capture`: pages captured, headroom, pages lost. */
const SUMMARY = /captured .*?\((\d+) pages\).* headroom ([\d.]+)% of the ring, (\d+) pages lost/;

async function trial(
  kind: BenchBackend,
  options: SustainedOptions,
  fraction: number,
  sshd: Sshd | undefined,
  adaptive = false,
): Promise<Trial> {
  const pageSize = options.pageSize ?? 4096;
  const geometry = ringGeometry({
    base: 0n,
    pageSize,
    pages: Math.max(2, Math.round(options.ringBytes / pageSize)),
  });
  const ideal = geometry.ringBytes / (options.period / 1000);
  const dir = await scratchDir(shmDir());
  const image = `${dir.path}/ring.img`;
  const sim = await startSim({
    image,
    geometry,
    rate: ideal * fraction,
    duration: options.captureMs + 60_000,
  });
  try {
    // The capture is the CLI in a process of its own, as a user runs it: not
    // the bench's process, whose heap holds what the measurements before
    // this one left (its collections stalled a poll for tens of ms).
    const { url, env } = await benchBackendUrl(kind, image, sshd);
    const argv = ringdumpArgv([
      "capture",
      "--backend",
      url,
      ...geometryFlags(geometry),
      "--period",
      `${options.period}ms`,
      "--duration",
      `${options.captureMs}ms`,
      // The issue's fixed-period figures keep the reference's beat.
      ...(adaptive ? [] : ["--fixed-period"]),
      "--overrun",
      "fail",
      "--format",
      "raw",
      "--no-progress",
      "--out",
      "-",
    ]);
    const r = await run(argv, { env, stdout: "null" });
    const m = r.stderr.match(SUMMARY);
    if (r.code === 0 && m) {
      return {
        fraction,
        ok: Number(m[3]) === 0,
        headroom: Number(m[2]) / 100,
        bytes: Number(m[1]) * pageSize,
      };
    }
    // Exit 1: lost (an overrun or a torn read). A counter the dumper refuses
    // to believe (exit 3 naming the counter: a jump it cannot confirm, as
    // when the reader was starved for longer than the ring holds) also ends
    // the capture with data unread: lost.
    if (r.code === 1 || (r.code === 3 && /counter/.test(r.stderr))) {
      return { fraction, ok: false, headroom: Infinity, bytes: 0 };
    }
    throw new Error(`ringdump capture (${kind}) exited with ${r.code}: ${r.stderr.trim()}`);
  } finally {
    await sim.stop();
    await dir.remove();
  }
}

/**
 * Bisects the lossless writer rate of one backend over [0, 1] of R/P.
 *
 * @example
 * ```ts ignore
 * import { bisectRate } from "./sustained.ts";
 * const r = await bisectRate("devmem", { backends: ["devmem"], ringBytes: 1 << 20, period: 100, captureMs: 1000, steps: 2 });
 * console.log(r.fraction);
 * ```
 */
export async function bisectRate(
  kind: BenchBackend,
  options: SustainedOptions,
  sshd?: Sshd,
  adaptive?: { upTo: number },
): Promise<{ fraction: number; trials: Trial[] }> {
  let lo = 0, hi = adaptive?.upTo ?? 1;
  const trials: Trial[] = [];
  const steps = adaptive ? options.steps : options.fixedSteps ?? options.steps;
  for (let i = 0; i < steps; i++) {
    const mid = (lo + hi) / 2;
    const t = await trial(kind, options, mid, sshd, adaptive !== undefined);
    trials.push(t);
    if (t.ok) lo = mid;
    else hi = mid;
  }
  return { fraction: lo, trials };
}

/**
 * The sustained lossless rate of each backend, as a fraction of R/P.
 *
 * @example
 * ```ts ignore
 * import { sustainedRate } from "./sustained.ts";
 * console.log(await sustainedRate({ backends: ["devmem"], ringBytes: 1 << 20, period: 100, captureMs: 1000, steps: 2 }));
 * ```
 */
export async function sustainedRate(options: SustainedOptions): Promise<Figure[]> {
  const ideal = options.ringBytes / (options.period / 1000) / MIB;
  const refName = `ideal R/P (R ${
    (options.ringBytes / MIB).toFixed(2)
  } MiB, P ${options.period} ms)`;
  const figures: Figure[] = [];
  const local = options.backends.filter((b) => !b.startsWith("ssh_"));
  const remote = options.backends.filter((b) => b.startsWith("ssh_"));
  // One trial per bisection step.
  const note = (trials: Trial[], span = 1) =>
    `${options.captureMs / 1000} s captures, ${trials.length} bisection steps (resolution ${
      (100 * span / 2 ** trials.length).toFixed(1)
    }% of R/P); trials: ${
      trials.map((t) => `${(t.fraction * 100).toFixed(1)}% ${t.ok ? "ok" : "lost"}`).join(", ")
    }`;
  const one = async (kind: BenchBackend, sshd?: Sshd) => {
    const tools = kind === "pixeldump" ? `; ${(await benchEmulators()).note}` : "";
    const r = await bisectRate(kind, options, sshd);
    figures.push(figure({
      name: `sustained.${kind}`,
      what: `highest lossless ringdump sim rate, ${kind}, fixed period`,
      value: r.fraction * ideal,
      unit: "MiB/s",
      refName,
      refValue: ideal,
      goal: kind === "devmem" ? 0.95 : 0.9,
      note: note(r.trials) + tools,
    }));
    const upTo = options.adaptive?.[kind];
    if (upTo === undefined) return;
    const a = await bisectRate(kind, options, sshd, { upTo });
    // What the writer achieved at the best lossless trial (it may fall short of its nominal rate).
    const best = a.trials.filter((t) => t.ok).sort((x, y) => y.fraction - x.fraction)[0];
    const achieved = best ? best.bytes / (options.captureMs / 1000) / MIB : 0;
    figures.push(figure({
      name: `sustained.${kind}_adaptive`,
      what: `highest lossless ringdump sim rate, ${kind}, adaptive polling (the default)`,
      value: Math.min(a.fraction * ideal, achieved),
      unit: "MiB/s",
      refName,
      refValue: ideal,
      goal: kind === "devmem" ? 4 : 2,
      note: `bisected over [0, ${upTo}] x R/P; value: the writer's achieved rate at the best ` +
        `lossless trial; ${note(a.trials, upTo)}${tools}`,
    }));
  };
  for (const kind of local) await one(kind);
  if (remote.length) {
    await withSshd(async (sshd, why) => {
      for (const kind of remote) {
        if (!sshd) {
          figures.push(
            skipped(`sustained.${kind}`, `lossless rate, ${kind}`, "MiB/s", refName, why!),
          );
        } else {
          try {
            await one(kind, sshd);
          } catch (e) {
            figures.push(skipped(
              `sustained.${kind}${
                figures.some((f) => f.name === `sustained.${kind}`) ? "_adaptive" : ""
              }`,
              `lossless rate, ${kind}`,
              "MiB/s",
              refName,
              `failed: ${errorMessage(e).split("\n")[0]}`,
            ));
          }
        }
      }
    });
  }
  return figures;
}
