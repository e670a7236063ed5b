/**
 * Two commands of the `ringdump` CLI for captures over SSH:
 *
 * - `ringdump agent`: runs on the board and serves memory reads over
 *   stdin/stdout in the agent protocol ({@link ./agent.ts}); started by the
 *   `ssh://...?via=agent` backend, not by hand.
 * - `ringdump deploy ssh://HOST`: puts a ringdump executable on the board
 *   (upload to a temporary name, chmod, atomic rename) and prints what it
 *   says to `--version` there.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { openBackend } from "../backends/mod.ts";
import { DEFAULT_MAX_READ, runAgent } from "./agent.ts";
import { UsageError } from "./errors.ts";
import { hex, parseAddress, parseInteger, parseSize } from "./units.ts";

interface AgentFlags {
  mem: string;
  origin: string;
  maxRead: string;
  protocolVersion?: string;
}

/**
 * The devmem backend URL for a memory device or image path and its origin.
 *
 * @example
 * ```ts
 * import { devmemUrl } from "./agent_cli.ts";
 * console.log(devmemUrl("/dev/shm/my ring.img", 0x1000n)); // "devmem:/dev/shm/my%20ring.img?origin=0x1000"
 * ```
 */
export function devmemUrl(path: string, origin: bigint): string {
  return `devmem:${path.split("/").map(encodeURIComponent).join("/")}?origin=${hex(origin)}`;
}

async function pageSize(): Promise<number> {
  try {
    const { systemPageSize } = await import("../backends/libc_util.ts");
    return systemPageSize();
  } catch {
    return 4096; // no FFI permission: the usual page size
  }
}

/**
 * Adds `ringdump agent` to a commander program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addAgentCommand } from "./agent_cli.ts";
 * const program = new Command("ringdump");
 * addAgentCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["agent"]
 * ```
 */
export function addAgentCommand(program: Command): Command {
  program
    .command("agent")
    .description(
      "Serve memory reads on stdin/stdout in ringdump's binary agent protocol (run on the\n" +
        "board by the ssh://HOST?via=agent backend, not by hand). It only reads: the protocol\n" +
        "has no write request. It exits when its input ends.",
    )
    .option(
      "--mem <path>",
      "memory device or image to read (through the devmem backend)",
      "/dev/mem",
    )
    .option("--origin <addr>", "physical address of the first byte of --mem", "0x0")
    .option("--max-read <size>", "largest read served in one request", String(DEFAULT_MAX_READ))
    .addOption(new Option("--protocol-version <n>").hideHelp())
    .addHelpText(
      "after",
      `
Example (what the ssh backend runs on the board):
  ringdump agent --mem /dev/mem --origin 0x0

Exit codes: 0 the client closed the link; 2 usage error; 3 protocol, device or link error.`,
    )
    .action((flags: AgentFlags) => runAgentCommand(flags));
  return program;
}

async function runAgentCommand(flags: AgentFlags): Promise<void> {
  const origin = parseAddress(flags.origin, { option: "--origin" });
  const maxRead = parseSize(flags.maxRead, { option: "--max-read" });
  if (maxRead < 1 || maxRead > 0x7fff_ffff) {
    throw new UsageError(`--max-read must be between 1 byte and 2 GiB - 1 (got ${flags.maxRead})`, {
      option: "--max-read",
      value: flags.maxRead,
    });
  }
  const protocolVersion = flags.protocolVersion === undefined
    ? undefined
    : parseInteger(flags.protocolVersion, { option: "--protocol-version" });
  if (Deno.stdout.isTerminal()) {
    throw new UsageError(
      "ringdump agent speaks a binary protocol on stdin/stdout; it is started by " +
        "'ringdump capture --backend ssh://HOST?via=agent', not in a terminal",
    );
  }
  const url = devmemUrl(flags.mem, origin);
  await runAgent({
    input: Deno.stdin.readable,
    output: Deno.stdout.writable,
    open: (geometry) => openBackend(url, { geometry }),
    memory: flags.mem,
    origin,
    pageSize: await pageSize(),
    maxRead,
    protocolVersion,
  });
}
