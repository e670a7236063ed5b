/**
 * Measurement 8 of the bench: wall time of `ringdump --help` (deno run with
 * the ringdump task's flags) against `deno eval 0`, and of the compiled
 * binary where `deno task compile` can build one (it needs denort).
 *
 * @module
 */
import { type Figure, figure, skipped } from "./results.ts";
import { median, ringdumpArgv, ROOT, run, scratchDir } from "./util.ts";

/** Options of {@linkcode startupTime}. */
export interface StartupOptions {
  /** Runs of each (interleaved); the median counts. */
  runs: number;
  /** Try `deno task compile` for the compiled binary's figure. */
  compile: boolean;
}

async function timeIt(argv: string[]): Promise<number> {
  const r = await run(argv, { stdout: "null" });
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.ms;
}

/**
 * The start-up figures.
 *
 * @example
 * ```ts ignore
 * import { startupTime } from "./startup.ts";
 * console.log(await startupTime({ runs: 3, compile: false }));
 * ```
 */
export async function startupTime(options: StartupOptions): Promise<Figure[]> {
  const deno = Deno.execPath();
  const help = ringdumpArgv(["--help"]);
  const evalArgv = [deno, "eval", "0"];
  await timeIt(help); // module graph cached, as an installed tool would have it
  await timeIt(evalArgv);
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    a.push(await timeIt(help));
    b.push(await timeIt(evalArgv));
  }
  const figures = [
    figure({
      name: "startup.help",
      what: "ringdump --help (deno run with the ringdump task's flags, cli.ts)",
      value: median(a),
      unit: "ms",
      refName: "deno eval 0",
      refValue: median(b),
      better: "lower",
      note: `median of ${options.runs}, module cache warm`,
    }),
  ];
  const compiledRef = "deno eval 0";
  const compiledSkipped = (why: string) =>
    skipped("startup.compiled", "compiled ringdump --help", "ms", compiledRef, why, {
      better: "lower",
    });
  if (!options.compile) {
    figures.push(compiledSkipped("not tried (--quick)"));
    return figures;
  }
  const dir = await scratchDir(Deno.env.get("TMPDIR") ?? "/tmp");
  try {
    const r = await run([deno, "run", "-A", `${ROOT}tools/compile.ts`, "--output", dir.path]);
    if (r.code !== 0) {
      const why = r.stderr.trim().split("\n").at(-1) ?? `exit ${r.code}`;
      figures.push(compiledSkipped(`unavailable: ${why.replace(/^deno task compile: /, "")}`));
      return figures;
    }
    const bin = [`${dir.path}/ringdump`, "--help"];
    await timeIt(bin);
    const c: number[] = [], e: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      c.push(await timeIt(bin));
      e.push(await timeIt(evalArgv));
    }
    figures.push(figure({
      name: "startup.compiled",
      what: "compiled ringdump --help",
      value: median(c),
      unit: "ms",
      refName: compiledRef,
      refValue: median(e),
      better: "lower",
      note: `median of ${options.runs}`,
    }));
    return figures;
  } finally {
    await dir.remove();
  }
}
