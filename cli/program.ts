/**
 * The `ringdump` command tree on commander, and running it: what cli.ts
 * loads for every command line but the top-level help and `--version` (those
 * it answers from cli/help.ts without loading commander).
 *
 * @module
 */
import { Command, CommanderError, Help } from "commander";
import { RingdumpError } from "../lib/errors.ts";
import { addAgentCommand } from "./agent.ts";
import { addBackendsCommand } from "./backends.ts";
import { addCaptureCommand } from "./capture.ts";
import { addDeployCommand } from "./deploy.ts";
import { cliMessage } from "./errors.ts";
import {
  helpWidth,
  NO_COMMAND,
  PROGRAM_DESCRIPTION,
  PROGRAM_OPTIONS,
  renderProgramHelp,
  VERSION,
} from "./help.ts";
import { addSimCommand } from "./sim.ts";
import { addTraceCommand } from "./trace.ts";
import { addVerifyCommand } from "./verify.ts";

/**
 * Builds the `ringdump` command tree (without running it). Its own help is
 * cli/help.ts's {@linkcode renderProgramHelp}, at the width commander picks
 * for the stream (its subcommands' help is commander's).
 *
 * @example
 * ```ts
 * import { buildProgram } from "./program.ts";
 * const program = buildProgram();
 * console.log(program.commands.map((c) => c.name()).includes("capture")); // true
 * ```
 */
export function buildProgram(): Command {
  const [version] = PROGRAM_OPTIONS;
  const program = new Command("ringdump")
    .description(PROGRAM_DESCRIPTION)
    .version(VERSION, version.term, version.description)
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    // Inherited by the subcommands: the width is decided as on the fast path in cli.ts.
    .configureOutput({
      getOutHelpWidth: () => helpWidth("stdout"),
      getErrHelpWidth: () => helpWidth("stderr"),
    })
    .configureHelp({
      sortSubcommands: false,
      // The top level's text, epilogue included, is the one cli.ts prints without commander.
      formatHelp: (cmd, helper) =>
        cmd.parent === null
          ? renderProgramHelp(helper.helpWidth)
          : Help.prototype.formatHelp.call(helper, cmd, helper),
    });
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
 * Runs `ringdump ARGS` through commander and returns the exit code (cli.ts's
 * `main` does, for all but the top-level help and `--version`).
 *
 * @example
 * ```ts
 * import { runProgram } from "./program.ts";
 * const code = await runProgram(["verify", "/nonexistent"]);
 * console.log(code); // 2
 * ```
 */
export async function runProgram(args: readonly string[]): Promise<number> {
  actionExit = 0;
  const program = buildProgram();
  try {
    await program.parseAsync([...args], { from: "user" });
    return actionExit;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      // `ringdump help ...` asked for it (0); no command at all is a usage error (help on stderr).
      if (e.code === "commander.help") {
        if (e.exitCode === 0) return 0;
        console.error(NO_COMMAND);
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
