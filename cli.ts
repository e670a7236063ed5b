/**
 * `ringdump`: the command line. Flags become a backend and a sink; the
 * capture shows progress on a terminal, prints a summary, and exits with a
 * code scripts can trust:
 *
 * - 0: success (also after Ctrl-C or SIGTERM when nothing was lost)
 * - 1: data lost (overrun, torn read, pages skipped with `--overrun gap`) or verify failed
 * - 2: usage error (bad flag, bad URL, bad geometry, unwritable output)
 * - 3: backend or device error
 * - 70: internal error (a bug; please report it with the message)
 *
 * @module
 */
// Only light modules here: the top-level help and --version are answered
// without commander (whose Node compatibility layer costs as much as starting
// Deno) or any command's dependencies.
import { helpWidth, NO_COMMAND, renderProgramHelp, VERSION } from "./cli/help.ts";

export { VERSION };

/** What the fast path prints: where, what, and the exit code. */
interface QuickAnswer {
  readonly stream: "stdout" | "stderr";
  readonly text: string;
  readonly code: number;
  /** A line for stderr after the text. */
  readonly note?: string;
}

/**
 * The answer to the command lines that need no command (`ringdump`, `--help`,
 * `-h`, `help`, `--version`, `-V`), exactly as commander gives it; undefined
 * for any other command line.
 */
function quickAnswer(args: readonly string[]): QuickAnswer | undefined {
  if (args.length === 0) {
    // No command: a usage error, the help on stderr.
    return {
      stream: "stderr",
      text: renderProgramHelp(helpWidth("stderr")),
      code: 2,
      note: NO_COMMAND,
    };
  }
  if (args.length !== 1) return undefined;
  switch (args[0]) {
    case "--help":
    case "-h":
    case "help":
      return { stream: "stdout", text: renderProgramHelp(helpWidth("stdout")), code: 0 };
    case "--version":
    case "-V":
      return { stream: "stdout", text: `${VERSION}\n`, code: 0 };
  }
  return undefined;
}

/** Writes all of `text` (a reader that closed the pipe has what it wanted). */
function writeText(file: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
}

/**
 * Runs the CLI with `args` and returns the exit code (it never calls
 * `Deno.exit` itself, except on a second Ctrl-C). The top-level help and
 * `--version` are answered here; every other command line goes to commander
 * (cli/program.ts, loaded then).
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const code = await main(["verify", "/nonexistent"]);
 * console.log(code); // 2
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const quick = quickAnswer(args);
  if (quick) {
    writeText(quick.stream === "stdout" ? Deno.stdout : Deno.stderr, quick.text);
    if (quick.note) console.error(quick.note);
    return quick.code;
  }
  // A string literal: deno compile and deno bundle embed it.
  const { runProgram } = await import("./cli/program.ts");
  return await runProgram(args);
}

/**
 * Relative paths are the user's: `deno task` runs in the repository's root
 * but says in `INIT_CWD` where it was run from, so `deno task ringdump`,
 * `deno run cli.ts` and the compiled binary all take `--out c.bin` from the
 * directory the user is in.
 */
function enterUserDirectory(): void {
  const dir = Deno.env.get("INIT_CWD");
  if (!dir || dir === Deno.cwd()) return;
  try {
    Deno.chdir(dir);
  } catch { /* gone or unreadable: stay where the task put us */ }
}

if (import.meta.main) {
  enterUserDirectory();
  Deno.exit(await main(Deno.args));
}
