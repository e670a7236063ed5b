/**
 * `ringdump verify`: checks a capture of the `counter` test pattern for gaps.
 *
 * @module
 */
import type { Command } from "commander";
import { commandSummary } from "./help.ts";
import { RingdumpError } from "../lib/errors.ts";
import { verifyCounterFile } from "../lib/sim/verify.ts";
import { formatBytes, hex } from "../lib/units.ts";

const VERIFY_EXIT_CODES = `
Exit codes:
  0   contiguous: every word holds its stream offset
  1   not contiguous: a gap, a mismatch, a partial word, or an empty file
  2   usage error (the file does not exist, a bad flag)
  70  internal error (a bug: please report it)`;

/**
 * Adds `ringdump verify` to a commander program; `onExit` gets 1 when
 * `--json` reported a capture that is not contiguous (without `--json`,
 * that is a thrown {@linkcode RingdumpError}).
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addVerifyCommand } from "./verify.ts";
 * const program = new Command("ringdump");
 * addVerifyCommand(program, (code) => console.log(code));
 * console.log(program.commands.map((c) => c.name())); // ["verify"]
 * ```
 */
export function addVerifyCommand(program: Command, onExit: (code: number) => void): Command {
  return program
    .command("verify")
    .summary(commandSummary("verify"))
    .description(
      "Check a capture of the 'counter' test pattern: contiguous (exit 0, prints the byte " +
        "range covered) or not (exit 1, names the first gap or mismatch).",
    )
    .argument("<file>", "raw capture file")
    .option("--json", "print the result as JSON", false)
    .addHelpText(
      "after",
      `
Examples:
  ringdump capture --backend 'sim:?pattern=counter' --duration 2s --out c.bin
  ringdump verify c.bin
  ringdump verify --json c.bin
${VERIFY_EXIT_CODES}`,
    )
    .action(async (file: string, flags: { json: boolean }) => onExit(await runVerify(file, flags)));
}

async function runVerify(file: string, flags: { json: boolean }): Promise<number> {
  try {
    const r = await verifyCounterFile(file);
    if (flags.json) {
      console.log(JSON.stringify({
        ok: true,
        file,
        bytes: r.bytes,
        firstOffset: Number(r.firstOffset),
        endOffset: Number(r.endOffset),
      }));
    } else {
      console.log(
        `${file}: contiguous, ${r.bytes} bytes (${formatBytes(r.bytes)}), stream offsets ${
          hex(r.firstOffset)
        }..${hex(r.endOffset)}`,
      );
    }
    return 0;
  } catch (e) {
    if (flags.json && e instanceof RingdumpError && e.exitCode === 1) {
      console.log(JSON.stringify({ ok: false, file, error: e.message }));
      return 1;
    }
    throw e;
  }
}
