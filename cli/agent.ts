/**
 * `ringdump agent`: runs on the board and serves memory reads over
 * stdin/stdout in the agent protocol ({@link ../lib/agent/protocol.ts});
 * started by the `ssh://...?via=agent` backend, not by hand.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { commandSummary } from "./help.ts";
import { DEFAULT_MAX_READ } from "../lib/agent/frame.ts";
import { UsageError } from "../lib/errors.ts";
import { hex, parseAddress, parseInteger, parseSize } from "../lib/units.ts";

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
 * import { devmemUrl } from "./agent.ts";
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
 * import { addAgentCommand } from "./agent.ts";
 * const program = new Command("ringdump");
 * addAgentCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["agent"]
 * ```
 */
export function addAgentCommand(program: Command): Command {
  program
    .command("agent")
    .summary(commandSummary("agent"))
    .description(
      "Serve memory reads on stdin/stdout in ringdump's binary agent protocol (run on the " +
        "board by the ssh://HOST?via=agent backend, not by hand). It only reads: the protocol " +
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
Examples:
  # on the workstation: capture through an agent on the board
  ringdump capture --backend 'ssh://root@board.lab?via=agent' \\
      --base 0x30000000 --counter 0x43c00010 --duration 10s --out dump.bin
  # what that runs on the board, over SSH
  ringdump agent --mem /dev/mem --origin 0x0

Exit codes:
  0   the client closed the link
  2   usage error
  3   protocol, device or link error`,
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
  // Loaded when the command runs: `ringdump --help` needs neither (string
  // literals, so deno compile and deno bundle still embed them).
  const [{ openBackend }, { runAgent }, { growPipe }] = await Promise.all([
    import("../backends/mod.ts"),
    import("../lib/agent/server.ts"),
    import("../backends/libc_util.ts"),
  ]);
  // Replies go into a pipe to sshd: 1 MiB, not 64 KiB (best effort; about 5%
  // more through the agent here).
  growPipe(1);
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
