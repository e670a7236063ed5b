/**
 * Runs `cli.ts` as a subprocess exactly as `deno task ringdump` does: the
 * permission flags are read from deno.json's `ringdump` task, so the tests run
 * with the permissions the compiled binary gets.
 */
import { shellQuote } from "../backends/ssh/mod.ts";

const root = new URL("../", import.meta.url);
const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const task: string = denoJson.tasks.ringdump;

/** `deno run <flags> /abs/cli.ts`, as an argv (without the program). */
export const RINGDUMP_ARGS: string[] = task.split(/\s+/).slice(1).map((a) =>
  a === "cli.ts" ? new URL("cli.ts", root).pathname : a
);

/** Deno's cache in this process: `$DENO_DIR`, else `$XDG_CACHE_HOME/deno`, else `~/.cache/deno`. */
function denoDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return Deno.env.get("DENO_DIR") ??
    (xdg ? `${xdg}/deno` : `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`);
}

/**
 * The remote shell command that runs this checkout's ringdump on the "board"
 * (this machine over SSH), as `ssh://...?agent=` takes it. An SSH session has
 * another environment (the test sshd gives it a HOME of its own), so the
 * command names this process's Deno cache and runs `--cached-only`: the board
 * side never downloads anything, and a cache miss is a clear error.
 */
export const REMOTE_RINGDUMP: string = `DENO_DIR=${shellQuote(denoDir())} ` +
  [Deno.execPath(), RINGDUMP_ARGS[0], "--cached-only", ...RINGDUMP_ARGS.slice(1)].map(shellQuote)
    .join(" ");

/** Output of a finished run. */
export interface CliResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs `ringdump ARGS` to completion. */
export async function ringdump(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const out = await spawnRingdump(args, options).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/** Starts `ringdump ARGS` and returns the child (stdout and stderr piped). */
export function spawnRingdump(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...RINGDUMP_ARGS, ...args],
    cwd: options.cwd,
    // INIT_CWD as `deno task` sets it: the directory the command runs in.
    env: { NO_COLOR: "1", INIT_CWD: options.cwd ?? Deno.cwd(), ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for a child and collects its output. */
export async function finish(child: Deno.ChildProcess): Promise<CliResult> {
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}
