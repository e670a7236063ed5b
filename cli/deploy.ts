/**
 * `ringdump deploy ssh://HOST`: puts a ringdump executable on the board
 * (upload to a temporary name, chmod, atomic rename) and prints what it says
 * to `--version` there.
 *
 * @module
 */
import type { Command } from "commander";
import { commandSummary } from "./help.ts";
import { BackendError, UsageError } from "../lib/errors.ts";
import { formatBytes } from "../lib/units.ts";

interface DeployFlags {
  binary?: string;
  to: string;
}

/**
 * Whether this process is a `deno compile`d ringdump (not `deno run`).
 *
 * @example
 * ```ts
 * import { isCompiled } from "./deploy.ts";
 * console.log(typeof isCompiled()); // "boolean"
 * ```
 */
export function isCompiled(): boolean {
  const exe = Deno.execPath().split("/").at(-1) ?? "";
  return !/^deno(\.exe)?$/.test(exe);
}

/**
 * The kit file (`deno task kit`) this ringdump runs from, or undefined when it
 * does not run from one. The kit's launcher says so in `RINGDUMP_KIT`; it
 * counts only when this runtime is the one that kit unpacked
 * (`.../kit-HASH/package/deno`).
 *
 * @example
 * ```ts
 * import { runningKit } from "./deploy.ts";
 * console.log(runningKit()); // undefined (under deno run)
 * ```
 */
export function runningKit(): string | undefined {
  const kit = Deno.env.get("RINGDUMP_KIT");
  if (kit === undefined || !kit.startsWith("/")) return undefined;
  return /\/kit-[0-9a-f]{16}\/package\/deno$/.test(Deno.execPath()) ? kit : undefined;
}

/**
 * Adds `ringdump deploy` to a commander program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addDeployCommand } from "./deploy.ts";
 * const program = new Command("ringdump");
 * addDeployCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["deploy"]
 * ```
 */
export function addDeployCommand(program: Command): Command {
  program
    .command("deploy")
    .summary(commandSummary("deploy"))
    .description(
      "Put a ringdump executable on a board over SSH, for ssh://HOST?via=agent: upload it " +
        "to a temporary name next to --to, make it executable, rename it over --to in one " +
        "step (a running copy is never half-written), then run it there with --version and " +
        "print what it says.\n\n" +
        "The SSH options are the ssh:// backend's (identity=, known_hosts=, ssh_config=, " +
        "host_keys=, ...).",
    )
    .argument("<url>", "ssh://[user@]host[:port][?identity=PATH&known_hosts=PATH&...]")
    .option(
      "--binary <path>",
      "the executable to upload: a kit (deno task kit) or a compiled binary (deno task " +
        "compile) for the board's CPU (default: this ringdump, when it runs from one)",
    )
    .option("--to <path>", "where it goes on the board", "/usr/local/bin/ringdump")
    .addHelpText(
      "after",
      `
Examples:
  # build for an arm64 board, put it there, then capture through it
  deno task kit --target aarch64
  ringdump deploy 'ssh://root@board.lab?identity=lab_key' --binary dist/ringdump-aarch64
  ringdump capture --backend 'ssh://root@board.lab?identity=lab_key&via=agent' \\
      --base 0x30000000 --counter 0x43c00010 --duration 10s --out dump.bin

Exit codes:
  0   deployed
  2   usage error
  3   SSH or remote error (nothing is left half-written)`,
    )
    .action((url: string, flags: DeployFlags) => runDeploy(url, flags));
  return program;
}

async function runDeploy(text: string, flags: DeployFlags): Promise<void> {
  // Loaded when the command runs, so `ringdump --help` does not load the backends.
  const [{ parseBackendUrl }, { connectSsh, shellQuote, sshOptionsFromUrl }] = await Promise.all([
    import("../backends/mod.ts"),
    import("../backends/ssh/mod.ts"),
  ]);
  const url = parseBackendUrl(text);
  if (url.protocol !== "ssh:") {
    throw new UsageError(`deploy: '${text}' is not an ssh:// URL (ssh://[user@]host[:port])`, {
      option: "<url>",
      value: text,
    });
  }
  const to = flags.to;
  if (!to.startsWith("/") || to.endsWith("/") || /[\0\n]/.test(to)) {
    throw new UsageError(`--to must be an absolute file path on the board (got '${to}')`, {
      option: "--to",
      value: to,
    });
  }
  const binary = flags.binary ?? runningKit() ?? (isCompiled() ? Deno.execPath() : undefined);
  if (binary === undefined) {
    throw new UsageError(
      "deploy: this ringdump runs under deno, so there is no executable to upload; " +
        "build one (deno task kit --target aarch64, or deno task compile) and give it with " +
        "--binary dist/ringdump-aarch64",
      { option: "--binary" },
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(binary);
  } catch {
    throw new UsageError(`--binary '${binary}' does not exist`, {
      option: "--binary",
      value: binary,
    });
  }
  if (!info.isFile) {
    throw new UsageError(`--binary '${binary}' is not a file`, {
      option: "--binary",
      value: binary,
    });
  }
  const { host, ...options } = sshOptionsFromUrl(url);
  const ssh = await connectSsh(host, options);
  const tmp = `${to}.deploy-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const where = `${ssh.target}:${to}`;
    // 1. Upload to a temporary name in the same directory (so the rename is atomic).
    await remote(ssh.command(`umask 077 && cat > ${shellQuote(tmp)}`), {
      what: `uploading ${binary} to ${ssh.target}:${tmp}`,
      stdin: binary,
    });
    // 2. Check the size, make it executable, rename it over the old one.
    await remote(
      ssh.command(
        `test "$(wc -c < ${shellQuote(tmp)})" -eq ${info.size} && chmod 755 ${
          shellQuote(tmp)
        } && ` +
          `mv -f ${shellQuote(tmp)} ${shellQuote(to)}`,
      ),
      { what: `installing it as ${where}` },
    );
    // 3. Run it.
    const version = await remote(ssh.command(`${shellQuote(to)} --version`), {
      what: `running ${where} --version`,
    });
    console.error(`deployed ${binary} (${formatBytes(info.size)}) to ${where}; it says:`);
    console.log(version.trim());
  } catch (e) {
    await remote(ssh.command(`rm -f ${shellQuote(tmp)}`), { what: "cleaning up" }).catch(() => {});
    throw e;
  } finally {
    await ssh.close();
  }
}

/** Runs an ssh argv (stdin from a file, if given); returns stdout; a BackendError otherwise. */
async function remote(argv: string[], options: { what: string; stdin?: string }): Promise<string> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let fed: Promise<void> = Promise.resolve();
  if (options.stdin !== undefined) {
    const file = await Deno.open(options.stdin, { read: true });
    fed = file.readable.pipeTo(child.stdin).catch(() => {}); // the result says what went wrong
  }
  const out = await child.output();
  await fed;
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (out.code !== 0) {
    const hint = /Permission denied|Read-only file system/i.test(stderr)
      ? " (is the directory writable by this user? /usr/local/bin needs root)"
      : /No such file or directory|nonexistent directory/i.test(stderr)
      ? " (does the directory exist on the board?)"
      : /Exec format error|cannot execute/i.test(stderr)
      ? " (the binary is for another CPU: deno task kit --target aarch64 or x86_64)"
      : "";
    throw new BackendError(
      `deploy: ${options.what} failed (exit ${out.code}): ${
        stderr.split("\n").join("; ") || "no message"
      }${hint}`,
      { backend: "ssh", command: argv, stderr },
    );
  }
  return new TextDecoder().decode(out.stdout);
}
