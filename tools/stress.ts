/**
 * `deno task test:stress [RUNS]`: the whole `deno task test`, RUNS times in a
 * row (default 5), while every core is kept busy by a spinning shell
 * (`while :; do :; done`), as on a loaded machine. The spinners are stopped
 * afterwards (also on Ctrl-C); each run's summary line is printed at the end.
 * Exit 0 only when every run passed.
 *
 * @module
 */
import { errorMessage } from "../lib/errors.ts";

/**
 * Parses the run count (a positive integer; default 5).
 *
 * @example
 * ```ts
 * import { runsFrom } from "./stress.ts";
 * console.log(runsFrom([]), runsFrom(["3"])); // 5 3
 * ```
 */
export function runsFrom(args: readonly string[]): number {
  if (args.length === 0) return 5;
  const n = Number(args[0]);
  if (args.length > 1 || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(
      `usage: deno task test:stress [RUNS] (RUNS: a positive integer, got '${args}')`,
    );
  }
  return n;
}

async function main(args: string[]): Promise<number> {
  let runs: number;
  try {
    runs = runsFrom(args);
  } catch (e) {
    console.error(errorMessage(e));
    return 2;
  }
  const root = new URL("../", import.meta.url).pathname;
  const spinners = Array.from(
    { length: navigator.hardwareConcurrency },
    () =>
      new Deno.Command("sh", {
        args: ["-c", "while :; do :; done"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn(),
  );
  const stop = () => {
    for (const s of spinners) {
      try {
        s.kill("SIGKILL");
      } catch { /* gone already */ }
    }
  };
  const onSignal = () => {
    stop();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const summaries: string[] = [];
  let failed = 0;
  try {
    console.error(`test:stress: ${runs} runs with ${spinners.length} spinning processes`);
    for (let i = 1; i <= runs; i++) {
      const t0 = performance.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["task", "test"],
        cwd: root,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        await Deno.stdout.write(chunk);
        text += decoder.decode(chunk, { stream: true });
      }
      const { code } = await child.status;
      if (code !== 0) failed++;
      const lines = text.split("\n").filter((l) => l.startsWith("ringdump tests: "));
      const secs = ((performance.now() - t0) / 1000).toFixed(0);
      summaries.push(
        `run ${i}/${runs} (exit ${code}, ${secs} s): ${
          lines.map((l) => l.slice("ringdump tests: ".length)).join("; ") ||
          "no summary (the checks failed?)"
        }`,
      );
    }
  } finally {
    stop();
    await Promise.allSettled(spinners.map((s) => s.status));
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  console.log(`\ntest:stress: ${runs - failed} of ${runs} runs passed under load`);
  for (const s of summaries) console.log(s);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
