/**
 * Measurement 8 of the bench: wall time of `ringdump --help` (deno run with
 * the ringdump task's flags) against `deno eval 0`, of `capture --duration 0`
 * to its first counter read, and of the compiled binary where `deno task
 * compile` can build one (it needs denort).
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

/**
 * Wall time from spawning `argv` to the dumper's first counter read (its
 * "baseline counter" debug line on stderr), ms.
 */
async function timeToFirstRead(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let seen: number | undefined;
  let text = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    text += dec.decode(chunk, { stream: true });
    if (seen === undefined && text.includes("baseline counter")) seen = performance.now() - t0;
  }
  const status = await child.status;
  if (!status.success || seen === undefined) {
    throw new Error(`${argv.join(" ")}: exit ${status.code}, no first counter read: ${text}`);
  }
  return seen;
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
  const scratch = await Deno.makeTempFile({ prefix: "ringdump-bench-", suffix: ".raw" });
  const capture = ringdumpArgv([
    "capture",
    "--duration",
    "0",
    "--out",
    scratch,
    "--format",
    "raw",
    "--no-progress",
    "--log-level",
    "debug",
  ]);
  const evalArgv = [deno, "eval", "0"];
  const a: number[] = [], b: number[] = [], c0: number[] = [];
  try {
    await timeIt(help); // module graph cached, as an installed tool would have it
    await timeToFirstRead(capture);
    await timeIt(evalArgv);
    for (let i = 0; i < options.runs; i++) {
      a.push(await timeIt(help));
      b.push(await timeIt(evalArgv));
      c0.push(await timeToFirstRead(capture));
    }
  } finally {
    await Deno.remove(scratch).catch(() => {});
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
      goal: 1.5,
      note: `median of ${options.runs}, module cache warm; answered from cli/help.ts, without ` +
        `commander or any node: module (see the README's Performance notes)`,
    }),
    figure({
      name: "startup.capture_first_read",
      what: "ringdump capture --duration 0 (sim:), spawn to the first counter read",
      value: median(c0),
      unit: "ms",
      refName: "deno eval 0",
      refValue: median(b),
      better: "lower",
      goal: 4,
      note: `median of ${options.runs}, module cache warm; the first read is the dumper's ` +
        `'baseline counter' debug line on stderr`,
    }),
  ];
  const compiledRef = "deno eval 0";
  const compiledSkipped = (why: string) =>
    skipped("startup.compiled", "compiled ringdump --help", "ms", compiledRef, why, {
      better: "lower",
      goal: 1.5,
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
      goal: 1.5,
      note: `median of ${options.runs}`,
    }));
    return figures;
  } finally {
    await dir.remove();
  }
}
