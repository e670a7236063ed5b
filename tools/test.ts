/**
 * `deno task test` after the checks: runs `deno test --doc` over the tests
 * and every module's JSDoc examples, then ends with one line saying what was
 * skipped for want of a system tool and the one `apt-get install ...` that
 * enables all of it (testing/tools.ts records the skips). With `CI` set,
 * nothing may be skipped: a skip or an ignored test fails the run.
 *
 * Usage: `deno run -A tools/test.ts [deno test args...]` (default: the whole suite).
 *
 * @module
 */
import { SKIP_LOG_ENV, type SkipRecord, skipSummary } from "../testing/tools.ts";
import { COMPILE_PERMISSIONS } from "./compile.ts";

/** The permissions the tests get (the ringdump task's, plus the loopback network for sshd). */
export const TEST_PERMISSIONS: readonly string[] = [
  ...COMPILE_PERMISSIONS,
  "--allow-net=127.0.0.1",
];

/** What `deno task test` covers: the tests, and the JSDoc examples of every module. */
export const TEST_PATHS: readonly string[] = [
  "tests/",
  "mod.ts",
  "cli.ts",
  "cli/",
  "lib/",
  "backends/",
  "testing/",
  "tools/",
];

/** Strips ANSI colours. */
function plain(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\x1b\[[0-9;]*m/g, "");
}

/**
 * Deno's final summary line (`ok | 180 passed | 0 failed (2m)` or
 * `FAILED | ...`) in `text`, or undefined.
 *
 * @example
 * ```ts
 * import { summaryOf } from "./test.ts";
 * console.log(summaryOf("x\nok | 3 passed | 0 failed | 1 ignored (1s)\n")); // "ok | 3 passed | 0 failed | 1 ignored (1s)"
 * ```
 */
export function summaryOf(text: string): string | undefined {
  const lines = plain(text).split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  return lines.at(-1)?.trim();
}

function withoutInitCwd(env: Record<string, string>): Record<string, string> {
  const { INIT_CWD: _, ...rest } = env;
  return rest;
}

async function main(args: string[]): Promise<number> {
  const root = new URL("../", import.meta.url).pathname;
  const log = await Deno.makeTempFile({ prefix: "ringdump-skips-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--doc",
        ...TEST_PERMISSIONS,
        ...(args.length > 0 ? args : TEST_PATHS),
      ],
      cwd: root,
      // Not INIT_CWD: the tests' ringdump runs would take it for the user's directory.
      clearEnv: true,
      env: { ...withoutInitCwd(Deno.env.toObject()), [SKIP_LOG_ENV]: log },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Pass the output on as it comes, keeping the tail for the summary.
    let tail = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      await Deno.stdout.write(chunk);
      tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
    }
    const { code } = await child.status;
    const records: SkipRecord[] = (await Deno.readTextFile(log)).split("\n").filter((l) => l)
      .map((l) => JSON.parse(l));
    const summary = summaryOf(tail) ?? `deno test exited with ${code}`;
    const skips = skipSummary(records);
    const ignored = Number(/(\d+) ignored/.exec(summary)?.[1] ?? 0);
    console.log(`ringdump tests: ${summary}`);
    if (Deno.env.get("CI") && (records.length > 0 || ignored > 0)) {
      console.log(
        `ringdump tests: FAILED: CI is set, yet ${ignored} tests were ignored` +
          (skips ? `; ${skips}` : ""),
      );
      return code === 0 ? 1 : code;
    }
    console.log(
      skips
        ? `ringdump tests: ${skips}`
        : "ringdump tests: nothing skipped (every system tool found)",
    );
    return code;
  } finally {
    await Deno.remove(log).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
