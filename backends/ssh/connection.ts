/**
 * The ssh master connection to a board: one multiplexed OpenSSH connection
 * (ControlMaster, its ControlPath in a private temporary directory removed on
 * close), a remote shell over it (session.ts) with bounded reconnection, and
 * the `dd`, `devmem` and `pixeldump` reads of the `ssh://` backend in it.
 *
 * @module
 */
import type { CommandBuilder } from "@david/dax";
import { getLogger } from "@logtape/logtape";
import type { Backend, RegisterWidth } from "../types.ts";
import { parseRegisterOutput } from "../pixeldump.ts";
import { commandDeadline, type CommandOutput, intoBytes, showCommand } from "../process.ts";
import { BackendError, errorMessage, UsageError } from "../../lib/errors.ts";
import { systemClock } from "../../lib/clock.ts";
import { hex } from "../../lib/units.ts";
import { ddBlockSize, shellQuote } from "./commands.ts";
import { RemoteShell } from "./session.ts";
import { SSH_DEFAULTS, type SshOptions } from "./options.ts";

const log = getLogger(["ringdump", "ssh"]);

/** Quotes a path for an ssh `-o Key=value` option (which splits on spaces and expands `%`). */
function sshOptionPath(option: string, path: string): string {
  if (/["\n\r]/.test(path)) {
    throw new UsageError(
      `ssh: ${option} path '${path}' must not contain double quotes or newlines`,
      {
        option,
        value: path,
      },
    );
  }
  return `"${path.replaceAll("%", "%%")}"`;
}

const CONNECTION_LOST = 255;

/** The most a register's command may print after a batch's ranges (readThenRegister). */
const REGISTER_OUTPUT_BYTES = 4096;

class SshBackend implements Backend {
  readonly name = "ssh";
  // Every read and every counter read is one command of the remote shell (a
  // remote process, a round trip): read a period in as few as the ring's end
  // allows, check it with one.
  readonly maxReadBytes = 64 * 1024 * 1024;
  readonly checkBatchBytes = 64 * 1024 * 1024;
  readonly #target: string;
  readonly #o:
    & Required<
      Omit<
        SshOptions,
        | "user"
        | "port"
        | "identity"
        | "knownHosts"
        | "sshConfig"
        | "signal"
        | "agent"
        | "agentTimeout"
        | "geometry"
        | "period"
      >
    >
    & SshOptions;
  readonly #dir: string;
  readonly #controlPath: string;
  #master: ReturnType<CommandBuilder["spawn"]> | undefined;
  #masterDone: Promise<CommandOutput> | undefined;
  #masterExited = true;
  /** The shell the reads and register reads run in (session.ts), started at the first. */
  #shell: RemoteShell | undefined;
  #closed = false;
  /** Reconnections so far. */
  reconnects = 0;

  constructor(host: string, dir: string, options: SshOptions) {
    this.#target = options.user === undefined ? host : `${options.user}@${host}`;
    this.#dir = dir;
    this.#controlPath = `${dir}/master.sock`;
    const d = SSH_DEFAULTS;
    const mem = options.mem ?? d.mem;
    this.#o = {
      ...options,
      hostKeys: options.hostKeys ?? d.hostKeys,
      via: options.via ?? d.via,
      mem,
      origin: options.origin ?? d.origin,
      reg: options.reg ?? (mem === "/dev/mem" ? "devmem" : "dd"),
      pixeldump: options.pixeldump ?? d.pixeldump,
      devmem: options.devmem ?? d.devmem,
      pageSize: options.pageSize ?? d.pageSize,
      retries: options.retries ?? d.retries,
      backoff: options.backoff ?? d.backoff,
      connectTimeout: options.connectTimeout ?? d.connectTimeout,
      ssh: options.ssh ?? d.ssh,
      clock: options.clock ?? systemClock,
    };
  }

  /** Options common to the master and every channel. */
  #sshArgs(): string[] {
    const o = this.#o;
    const a = [
      "-o",
      "BatchMode=yes",
      "-o",
      `StrictHostKeyChecking=${o.hostKeys === "accept-new" ? "accept-new" : "yes"}`,
      "-o",
      `ControlPath=${sshOptionPath("ControlPath", this.#controlPath)}`,
      "-o",
      `ConnectTimeout=${Math.max(1, Math.ceil(o.connectTimeout / 1000))}`,
      "-o",
      "ServerAliveInterval=2",
      "-o",
      "ServerAliveCountMax=3",
      "-o",
      "LogLevel=ERROR",
    ];
    if (o.sshConfig !== undefined) a.unshift("-F", o.sshConfig);
    if (o.port !== undefined) a.push("-p", String(o.port));
    if (o.identity !== undefined) {
      a.push("-i", o.identity.replaceAll("%", "%%"), "-o", "IdentitiesOnly=yes");
    }
    if (o.knownHosts !== undefined) {
      a.push("-o", `UserKnownHostsFile=${sshOptionPath("known_hosts", o.knownHosts)}`);
    }
    return a;
  }

  #hint(stderr: string): string {
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) {
      return "the host key is not in known_hosts or does not match: add it (ssh-keyscan), point known_hosts= at your lab's file, or opt in with host_keys=accept-new for a host never seen before";
    }
    if (/Permission denied/i.test(stderr)) {
      return "authentication failed: give identity=PATH or load a key into ssh-agent (BatchMode: no password prompts)";
    }
    if (
      /Connection refused|No route to host|timed out|Could not resolve|Network is unreachable|Connection reset|Connection closed/i
        .test(stderr)
    ) {
      return "the host is unreachable: check the host name, the port, and that sshd runs there";
    }
    return "";
  }

  #connectError(stderr: string, prefix: string): BackendError {
    const msg = stderr.trim().split("\n").filter((l) => l.trim() !== "").join("; ") ||
      "ssh exited without a message";
    const hint = this.#hint(stderr);
    return new BackendError(`ssh: ${prefix} ${this.#target}: ${msg}${hint ? ` (${hint})` : ""}`, {
      backend: "ssh",
      stderr,
    });
  }

  /** Starts the master connection; resolves once it is up, throws with ssh's stderr otherwise. */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.#stopMaster();
    try {
      await Deno.remove(this.#controlPath);
    } catch { /* not there */ }
    const argv = [
      this.#o.ssh,
      ...this.#sshArgs(),
      "-o",
      "ControlMaster=yes",
      "-o",
      "ControlPersist=no",
      "-N",
      "--",
      this.#target,
    ];
    log.debug("ssh master: {cmd}", { cmd: showCommand(argv) });
    // dax only for the long-lived master (loaded here, not by every capture).
    const dax = await import("@david/dax");
    const child = new dax.CommandBuilder()
      .command(argv)
      .stdin("null")
      .stdout("null")
      .stderr("piped")
      .noThrow()
      .spawn();
    this.#master = child;
    this.#masterExited = false;
    const done = child.then((r) => {
      this.#masterExited = true;
      return {
        code: r.code,
        stdout: new Uint8Array(),
        stdoutBytes: 0,
        stderr: r.stderr,
      } as CommandOutput;
    });
    this.#masterDone = done;
    const deadline = performance.now() + this.#o.connectTimeout + 10_000;
    let exited: CommandOutput | undefined;
    done.then((r) => exited = r);
    while (true) {
      if (exited !== undefined) {
        throw this.#connectError(exited.stderr, "cannot connect to");
      }
      try {
        const info = await Deno.lstat(this.#controlPath);
        if (info.isSocket) return;
      } catch { /* not yet */ }
      if (signal?.aborted || performance.now() > deadline) {
        await this.#stopMaster();
        throw new BackendError(
          `ssh: ${
            signal?.aborted ? "aborted while connecting" : "timed out connecting"
          } to ${this.#target}`,
          { backend: "ssh" },
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #stopMaster(): Promise<void> {
    const shell = this.#shell;
    this.#shell = undefined;
    await shell?.close();
    const m = this.#master;
    this.#master = undefined;
    if (m === undefined) return;
    if (!this.#masterExited) {
      try {
        m.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await this.#masterDone;
  }

  /** Re-establishes the master with bounded retries and backoff. */
  async #reconnect(why: string): Promise<void> {
    const o = this.#o;
    let last = why;
    for (let attempt = 1; attempt <= o.retries; attempt++) {
      if (this.#closed) break;
      const wait = Math.min(o.backoff * 2 ** (attempt - 1), 2000);
      log.warn(
        "ssh: connection to {target} lost ({why}); reconnecting in {wait} ms (attempt {attempt} of {retries})",
        { target: this.#target, why: last, wait, attempt, retries: o.retries },
      );
      await o.clock.sleep(wait);
      try {
        await this.connect();
        this.reconnects++;
        log.warn("ssh: reconnected to {target} (attempt {attempt})", {
          target: this.#target,
          attempt,
        });
        return;
      } catch (e) {
        last = errorMessage(e);
      }
    }
    throw new BackendError(
      `ssh: connection to ${this.#target} lost and not re-established after ${o.retries} attempts: ${last}`,
      { backend: "ssh" },
    );
  }

  /** `[user@]host`. */
  get target(): string {
    return this.#target;
  }

  /** The ssh argv that runs `remote` on the board over the master connection. */
  command(remote: string): string[] {
    return [this.#o.ssh, ...this.#sshArgs(), "-o", "ControlMaster=no", "--", this.#target, remote];
  }

  /**
   * Runs `remote` on the board in the shell kept open over the master
   * (session.ts; one is started when there is none); retries across a
   * dropped connection.
   */
  async #remote(
    remote: string,
    what: string,
    address?: bigint,
    into?: Uint8Array | readonly Uint8Array[],
    keepAfter?: number,
  ): Promise<CommandOutput> {
    if (this.#closed) throw new BackendError(`ssh: ${what} after close`, { backend: "ssh" });
    // What a user pastes to run the same command by hand.
    const argv = this.command(remote);
    for (let tries = 0;; tries++) {
      if (this.#masterExited) {
        if (tries > this.#o.retries) break;
        await this.#reconnect("the master connection exited");
      }
      if (this.#shell === undefined || this.#shell.dead) {
        await this.#shell?.close();
        this.#shell = RemoteShell.start(this.command("exec sh"));
      }
      // A hung remote tool must not hang the capture: 20 periods (at least
      // 5 s), plus 1 ms per KiB to read (1 MiB/s at the slowest).
      const bytes = into === undefined ? 0 : intoBytes(into);
      const timeout = commandDeadline(this.#o.period) + Math.ceil(bytes / 1024);
      const r = await this.#shell.run(remote, { into, keepAfter, timeout });
      if (r.killed === "deadline") {
        throw new BackendError(
          `ssh: ${what} on ${this.#target}: '${remote}' did not finish within its deadline of ${
            timeout / 1000
          } s; killed it. A hung tool on the board? Run that command there by hand to see`,
          { backend: "ssh", command: argv, stderr: r.stderr, address },
        );
      }
      if (!r.lost && r.code === 0) return r;
      if (!r.lost) {
        throw new BackendError(
          `ssh: ${what} failed on ${this.#target}: '${remote}' exited with ${r.code}: ${
            r.stderr.trim() || "(no message on stderr)"
          }`,
          { backend: "ssh", command: argv, stderr: r.stderr, address },
        );
      }
      if (r.code !== CONNECTION_LOST) {
        // ssh ended with the remote shell's status: no shell there to run commands in.
        throw new BackendError(
          `ssh: the remote shell on ${this.#target} ended (exit ${r.code}) while ${what}: ${
            r.stderr.trim() || "(no message on stderr)"
          }`,
          { backend: "ssh", command: this.command("exec sh"), stderr: r.stderr, address },
        );
      }
      if (tries >= this.#o.retries) {
        throw new BackendError(
          `ssh: ${what} on ${this.#target} failed ${tries + 1} times: ${r.stderr.trim()}`,
          { backend: "ssh", command: argv, stderr: r.stderr, address },
        );
      }
      // The connection dropped: make sure the master is gone, then start again.
      await this.#stopMaster();
      this.#masterExited = true;
      log.debug("ssh: {what} lost its connection: {stderr}", { what, stderr: r.stderr.trim() });
    }
    throw new BackendError(`ssh: ${what} on ${this.#target}: connection lost`, { backend: "ssh" });
  }

  #memOffset(address: bigint, what: string): bigint {
    const off = address - this.#o.origin;
    if (off < 0n) {
      throw new BackendError(
        `ssh: ${what} at ${hex(address)} is below the origin ${
          hex(this.#o.origin)
        } of ${this.#o.mem} (set origin= to the physical address its first byte stands for)`,
        { backend: "ssh", address },
      );
    }
    return off;
  }

  /** The remote command that reads a register: devmem (prints hex) or dd (`bytes` raw bytes). */
  #registerCommand(address: bigint, width: RegisterWidth): { cmd: string; bytes?: number } {
    const o = this.#o;
    const bytes = width / 8;
    if (![8, 16, 32, 64].includes(width) || address % BigInt(bytes) !== 0n) {
      throw new BackendError(
        `ssh: no ${width}-bit register access at ${hex(address)} (aligned 8/16/32/64-bit only)`,
        { backend: "ssh", address },
      );
    }
    if (o.via === "pixeldump" || o.reg === "devmem") {
      return { cmd: `${shellQuote(o.devmem)} ${hex(address)} ${width}` };
    }
    const off = this.#memOffset(address, `${width}-bit register`);
    return {
      cmd: `dd if=${shellQuote(o.mem)} bs=${bytes} skip=${off / BigInt(bytes)} count=1`,
      bytes,
    };
  }

  /** The register's value from what its command printed (`out`: its whole stdout). */
  #registerValue(
    c: { cmd: string; bytes?: number },
    out: Uint8Array,
    r: CommandOutput,
    address: bigint,
  ): bigint {
    if (c.bytes === undefined) {
      const text = new TextDecoder().decode(out);
      const v = parseRegisterOutput(text);
      if (v === undefined) {
        throw new BackendError(
          `ssh: remote '${c.cmd}' printed '${text.trim()}', not a hex value like 0x0000002A`,
          { backend: "ssh", stderr: r.stderr, address },
        );
      }
      return v;
    }
    const bytes = c.bytes;
    if (out.length !== bytes) throw this.#short(c.cmd, r, bytes, address);
    const v = new DataView(out.buffer, out.byteOffset, bytes);
    return bytes === 1
      ? BigInt(v.getUint8(0))
      : bytes === 2
      ? BigInt(v.getUint16(0, true))
      : bytes === 4
      ? BigInt(v.getUint32(0, true))
      : v.getBigUint64(0, true);
  }

  async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    const c = this.#registerCommand(address, width);
    const r = await this.#remote(
      c.cmd,
      `reading the ${width}-bit register at ${hex(address)}`,
      address,
    );
    return this.#registerValue(c, r.stdout, r, address);
  }

  #short(cmd: string, r: CommandOutput, want: number, address: bigint): BackendError {
    return new BackendError(
      `ssh: remote '${cmd}' returned ${r.stdoutBytes} of ${want} bytes at ${hex(address)}: ` +
        `the address is outside ${this.#o.mem} (check mem=, origin=, the ring's base, pages and the counter address)` +
        (r.stderr.trim() ? `; dd said: ${r.stderr.trim().split("\n").join("; ")}` : ""),
      { backend: "ssh", stderr: r.stderr, address },
    );
  }

  /** The remote command that writes `length` bytes from `address` to stdout. */
  #readCommand(address: bigint, length: number): string {
    const o = this.#o;
    if (o.via === "pixeldump") {
      const [w, h] = length % o.pageSize === 0 ? [o.pageSize, length / o.pageSize] : [length, 1];
      return `${shellQuote(o.pixeldump)} -a ${hex(address)} - ${w} ${h} 1`;
    }
    const off = this.#memOffset(address, "read");
    const bs = ddBlockSize(off, length);
    return `dd if=${shellQuote(o.mem)} bs=${bs} skip=${off / BigInt(bs)} count=${length / bs}`;
  }

  async read(address: bigint, dest: Uint8Array): Promise<void> {
    if (dest.length === 0) return;
    const cmd = this.#readCommand(address, dest.length);
    const r = await this.#remote(
      cmd,
      `reading ${dest.length} bytes at ${hex(address)}`,
      address,
      dest, // stdout straight into dest
    );
    if (r.stdoutBytes !== dest.length) throw this.#short(cmd, r, dest.length, address);
  }

  /**
   * Every read, then the register, in one remote command line (one command,
   * not one per read): `dd ... && dd ... && devmem ...`; the register is read
   * right after the last range, on the board.
   */
  async readThenRegister(
    reads: readonly { address: bigint; dest: Uint8Array }[],
    register: { address: bigint; width: RegisterWidth },
  ): Promise<bigint> {
    const parts = reads.filter((r) => r.dest.length > 0);
    const reg = this.#registerCommand(register.address, register.width);
    const cmds = parts.map((p) => this.#readCommand(p.address, p.dest.length));
    const cmd = [...cmds, reg.cmd].join(" && ");
    const dests = parts.map((p) => p.dest);
    const total = intoBytes(dests);
    const first = parts[0]?.address ?? register.address;
    // The ranges' bytes straight into their buffers, the register's line after them.
    const r = await this.#remote(
      cmd,
      `reading ${total} bytes at ${hex(first)} and the register at ${hex(register.address)}`,
      first,
      dests,
      REGISTER_OUTPUT_BYTES,
    );
    if (r.stdoutBytes < total) throw this.#short(cmds.join(" && "), r, total, first);
    if (r.stdoutBytes - total > REGISTER_OUTPUT_BYTES) {
      throw new BackendError(
        `ssh: remote '${reg.cmd}' printed ${
          r.stdoutBytes - total
        } bytes, not one register value (at most ${REGISTER_OUTPUT_BYTES})`,
        { backend: "ssh", stderr: r.stderr, address: register.address },
      );
    }
    return this.#registerValue(reg, r.after ?? new Uint8Array(0), r, register.address);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#stopMaster();
    try {
      await Deno.remove(this.#dir, { recursive: true });
    } catch { /* already gone */ }
  }
}

function checkTarget(host: string, user: string | undefined): void {
  if (!/^[A-Za-z0-9_.:%-]+$/.test(host) || host.startsWith("-")) {
    throw new UsageError(`ssh: '${host}' is not a host name or address`, {
      option: "backend",
      value: host,
    });
  }
  if (user !== undefined && (!/^[A-Za-z0-9_.-]+$/.test(user) || user.startsWith("-"))) {
    throw new UsageError(`ssh: '${user}' is not a user name`, { option: "backend", value: user });
  }
}

/**
 * An open ssh master connection to a board, usable as a backend
 * (`via=dd|pixeldump`) and for running other remote commands over it.
 *
 * @example
 * ```ts ignore
 * import { connectSsh } from "./connection.ts";
 * const ssh = await connectSsh("board.lab", { user: "root" });
 * console.log(ssh.target, ssh.command("uname -m").at(-1)); // "root@board.lab" "uname -m"
 * await ssh.close();
 * ```
 */
export interface SshConnection extends Backend {
  /** Reconnections so far. */
  readonly reconnects: number;
  /** `[user@]host`. */
  readonly target: string;
  /** The ssh argv that runs `remote` (a shell command line) over the master connection. */
  command(remote: string): string[];
}

/**
 * Starts the master connection to `host` (checking the options) and returns
 * it once it is up; `via` is not used.
 *
 * @example
 * ```ts ignore
 * import { connectSsh } from "./connection.ts";
 * const ssh = await connectSsh("board.lab", { user: "root" });
 * console.log(ssh.command("ringdump --version"));
 * await ssh.close();
 * ```
 */
export async function connectSsh(host: string, options: SshOptions = {}): Promise<SshConnection> {
  checkTarget(host, options.user);
  const retries = options.retries ?? SSH_DEFAULTS.retries;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new UsageError(`ssh: retries must be a whole number (got ${retries})`, {
      option: "retries",
      value: String(retries),
    });
  }
  if (options.via === "pixeldump" && (options.mem !== undefined || options.origin !== undefined)) {
    throw new UsageError(
      "ssh: mem= and origin= are for via=dd; via=pixeldump reads physical addresses itself",
      { option: "via", value: "pixeldump" },
    );
  }
  for (const [name, path] of [["identity", options.identity], ["ssh_config", options.sshConfig]]) {
    if (path === undefined) continue;
    try {
      await Deno.stat(path);
    } catch {
      throw new UsageError(`ssh: ${name}= file '${path}' does not exist`, {
        option: name,
        value: path,
      });
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "ringdump-ssh-" });
  await Deno.chmod(dir, 0o700);
  const backend = new SshBackend(host, dir, options);
  try {
    await backend.connect(options.signal);
  } catch (e) {
    await backend.close();
    throw e;
  }
  return backend;
}
