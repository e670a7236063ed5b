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
import { Command, CommanderError } from "commander";
import denoJson from "./deno.json" with { type: "json" };
import { RingdumpError } from "./lib/errors.ts";
import { addAgentCommand } from "./cli/agent.ts";
import { addBackendsCommand } from "./cli/backends.ts";
import { addCaptureCommand, EXIT_CODES } from "./cli/capture.ts";
import { addDeployCommand } from "./cli/deploy.ts";
import { cliMessage } from "./cli/errors.ts";
import { addSimCommand } from "./cli/sim.ts";
import { addTraceCommand } from "./cli/trace.ts";
import { addVerifyCommand } from "./cli/verify.ts";

/** The version printed by `ringdump --version`. */
export const VERSION: string = denoJson.version;

/**
 * Builds the `ringdump` command tree (without running it).
 *
 * @example
 * ```ts
 * import { buildProgram } from "./cli.ts";
 * const program = buildProgram();
 * console.log(program.commands.map((c) => c.name()).includes("capture")); // true
 * ```
 */
export function buildProgram(): Command {
  const program = new Command("ringdump")
    .description(
      "Stream what capture hardware writes into a ring buffer in physical memory to a file, " +
        "without losing a byte.",
    )
    .version(VERSION, "-V, --version")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ sortSubcommands: false })
    .addHelpText(
      "after",
      `
Examples:
  # 3 s of a tone from the simulated device (sim:, the default backend)
  ringdump capture --duration 3s --out capture.wav
  # real hardware: a 4 MiB ring at 0x30000000, its page counter at 0x43c00010
  ringdump capture --backend devmem:/dev/mem --base 0x30000000 --pages 1024 \\
      --counter 0x43c00010 --period 50ms --out dump.bin
  # the self-checking counter pattern, then check the capture has no gap
  ringdump capture --backend 'sim:?pattern=counter' --duration 2s --out c.bin
  ringdump verify c.bin
${EXIT_CODES}`,
    );
  addCaptureCommand(program, setExit);
  addVerifyCommand(program, setExit);
  addSimCommand(program);
  addBackendsCommand(program);
  addAgentCommand(program);
  addDeployCommand(program);
  addTraceCommand(program);
  return program;
}

/** The exit code set by the last action. */
let actionExit = 0;
const setExit = (code: number): void => {
  actionExit = code;
};

/**
 * Runs the CLI with `args` and returns the exit code (it never calls
 * `Deno.exit` itself, except on a second Ctrl-C).
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const code = await main(["verify", "/nonexistent"]);
 * console.log(code); // 2
 * ```
 */
export async function main(args: string[]): Promise<number> {
  actionExit = 0;
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return actionExit;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      // `ringdump help ...` asked for it (0); no command at all is a usage error (help on stderr).
      if (e.code === "commander.help") {
        if (e.exitCode === 0) return 0;
        console.error("ringdump: no command given: name one of the commands above");
        return 2;
      }
      return 2;
    }
    if (e instanceof RingdumpError) {
      console.error(`ringdump: ${cliMessage(e)}`);
      return e.exitCode;
    }
    console.error(`ringdump: internal error: ${e instanceof Error ? e.stack : String(e)}`);
    return 70;
  }
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
