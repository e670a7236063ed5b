/**
 * Running a command as a subprocess, from an argv array (never a shell
 * string), and showing one as a line to paste into a shell. The
 * `pixeldump:` and `ssh://` backends share it.
 *
 * @module
 */
import { CommandBuilder } from "@david/dax";

/** Result of one subprocess. */
export interface CommandOutput {
  /** Exit code (127 when the program was not found). */
  readonly code: number;
  /** Standard output, as bytes. */
  readonly stdout: Uint8Array;
  /** Standard error, as text. */
  readonly stderr: string;
}

/**
 * Runs `argv` (no shell) with dax and collects its output as bytes; never
 * throws for a non-zero exit.
 *
 * @example
 * ```ts
 * import { runCommand } from "./process.ts";
 * const r = await runCommand(["printf", "%s", "a b"]);
 * console.log(r.code, new TextDecoder().decode(r.stdout)); // 0 "a b"
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  options: { env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<CommandOutput> {
  let b = new CommandBuilder()
    .command([...argv])
    .stdin("null")
    .stdout("piped")
    .stderr("piped")
    .noThrow();
  if (options.env !== undefined) b = b.env(options.env);
  if (options.signal !== undefined) b = b.signal(options.signal);
  const r = await b;
  return { code: r.code, stdout: r.stdoutBytes, stderr: r.stderr };
}

/**
 * Shows an argv as one line a user can paste into a shell.
 *
 * @example
 * ```ts
 * import { showCommand } from "./process.ts";
 * console.log(showCommand(["pixeldump", "-a", "0x1000", "-", "4096", "2", "1"]));
 * ```
 */
export function showCommand(argv: readonly string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
}
