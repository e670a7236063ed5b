/**
 * One remote shell kept open over the ssh master connection, running the
 * `ssh://` backend's `dd`, `devmem` and `pixeldump` command lines one after
 * another: a command costs a line written to the shell, not a channel of its
 * own (issue 13: `ssh host true` over an open master took 29 ms here, a
 * command through a shell kept open 3.6 ms).
 *
 * Framing. Each command line is run as
 * `{ LINE; } </dev/null; printf '%s %d\n' MARK $?; printf '%s\n' MARK >&2`,
 * where MARK is `RD`, a random token of this session and the command's
 * number. Its stdout (the bytes read) goes straight into the caller's
 * buffers, then the line `MARK STATUS` ends it; on stderr, `MARK` ends what
 * the command said there. The token is unknown to whatever produced the data,
 * so the data cannot end a command early; a command that writes fewer bytes
 * than asked (a `dd` past the end of an image, a tool that fails) is seen by
 * its end line arriving where data was due (the last bytes of every chunk
 * are looked at: nothing is scanned), and its byte count is exact. `stdin`
 * is `/dev/null` for each command, so no tool can eat the next command.
 *
 * A command past its deadline kills the session (its ssh client's process
 * group); a session whose ssh client ended (the connection dropped) reports
 * `lost`, and the backend reconnects and starts another.
 *
 * docs/design.md (Backend interface) has the same rules from the dumper's side.
 *
 * @module
 */
import { growChildPipe } from "../libc_util.ts";
import { BufferFill, type CommandOutput, destinations } from "../process.ts";

/** Options of {@linkcode RemoteShell.run}. */
export interface ShellRunOptions {
  /** The command's stdout goes straight into this buffer, or these one after another. */
  into?: Uint8Array | readonly Uint8Array[];
  /** With `into`: keep up to this many bytes that come after it is full (`after`). */
  keepAfter?: number;
  /** Kill the session when the command has not ended after this many ms. */
  timeout?: number;
}

/** What {@linkcode RemoteShell.run} reports: a command's output, as `runCommand` would. */
export interface ShellOutput extends CommandOutput {
  /**
   * The session ended before the command did (its ssh client exited, with
   * `code`): the connection dropped, or the remote shell died.
   */
  readonly lost?: boolean;
}

/** The end line is at most this long: `RD` + 16 hex + `-` + a number + ` ` + a status + `\n`. */
const TAIL_BYTES = 64;
/** How long a failed command waits for the end of what it said on stderr, ms. */
const STDERR_WAIT = 1000;
/** The most stderr kept when no command asks for it (the shell's tools print records). */
const STDERR_KEEP = 64 * 1024;
/** What a command without `into` may print (a register's value), bytes. */
const COLLECT_BYTES = 64 * 1024;
/** A read of the ssh client's stdout returns at most its pipe's capacity (1 MiB, grown). */
const SCRATCH_BYTES = 1024 * 1024;

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * A shell on the board, started by an ssh client argv (over the master
 * connection), that runs command lines one at a time and frames their
 * output. Calls to {@linkcode RemoteShell.run} queue: one runs at a time.
 *
 * @example
 * ```ts ignore
 * import { RemoteShell } from "./session.ts";
 * const shell = RemoteShell.start(["ssh", "-o", "ControlPath=/tmp/m.sock", "board", "exec sh"]);
 * const r = await shell.run("dd if=/dev/mem bs=4096 skip=196608 count=1", { into: new Uint8Array(4096) });
 * console.log(r.code, r.stdoutBytes); // 0 4096
 * await shell.close();
 * ```
 */
export class RemoteShell {
  readonly #child: Deno.ChildProcess;
  readonly #out: ReadableStreamBYOBReader;
  readonly #in: WritableStreamDefaultWriter<Uint8Array>;
  readonly #token = randomToken();
  readonly #exit: Promise<number>;
  #scratch = new ArrayBuffer(SCRATCH_BYTES);
  #seq = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #stderr = "";
  #stderrChanged: (() => void) | undefined;
  #stderrDone = false;
  #dead = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#out = child.stdout.getReader({ mode: "byob" });
    this.#in = child.stdin.getWriter();
    this.#exit = child.status.then((s) => {
      this.#dead = true;
      return s.code;
    });
    this.#drainStderr();
  }

  /**
   * Starts `argv` (an ssh client whose remote command is a POSIX shell
   * reading its stdin, e.g. `exec sh`) in a process group of its own.
   */
  static start(argv: readonly string[]): RemoteShell {
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // Its own process group: killed as a whole, and the terminal's Ctrl-C
      // goes to ringdump only, which decides what to stop.
      detached: true,
    }).spawn();
    // ssh writes the bytes read into this pipe: 1 MiB, not 64 KiB (backends/libc_util.ts).
    growChildPipe(child.pid, 1);
    return new RemoteShell(child);
  }

  /** Whether the session ended (its ssh client exited, or was killed). */
  get dead(): boolean {
    return this.#dead;
  }

  async #drainStderr(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.#child.stderr) {
        this.#stderr += decoder.decode(chunk, { stream: true });
        if (this.#stderr.length > STDERR_KEEP) this.#stderr = this.#stderr.slice(-STDERR_KEEP / 2);
        this.#stderrChanged?.();
      }
    } catch { /* the process is gone */ }
    this.#stderrDone = true;
    this.#stderrChanged?.();
  }

  /**
   * What command `mark` said on stderr: the text before its end mark (after
   * the one before it). A command that failed waits for it; one that did not
   * only drops what is there.
   */
  async #takeStderr(mark: string, wait: boolean): Promise<string> {
    const end = `${mark}\n`;
    if (wait) {
      const deadline = performance.now() + STDERR_WAIT;
      while (!this.#stderr.includes(end) && !this.#stderrDone && performance.now() < deadline) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          this.#stderrChanged = r;
          timer = setTimeout(r, Math.max(1, deadline - performance.now()));
        });
        clearTimeout(timer);
        this.#stderrChanged = undefined;
      }
    }
    const at = this.#stderr.indexOf(end);
    if (at < 0) {
      // Not there (yet): what there is, but only when asked for.
      return wait ? this.#stderr.replace(new RegExp(`RD${this.#token}-\\d+\\n`, "g"), "") : "";
    }
    const before = this.#stderr.slice(0, at);
    this.#stderr = this.#stderr.slice(at + end.length);
    // An earlier command's end mark that came late: what follows it is this one's.
    const earlier = before.lastIndexOf(`RD${this.#token}-`);
    return earlier < 0 ? before : before.slice(before.indexOf("\n", earlier) + 1);
  }

  /**
   * Runs one command line in the shell; its stdout into `into` (then
   * `keepAfter` bytes), as {@linkcode runCommand} would report it, with its
   * stderr. Never throws for a failing command: `code` says.
   */
  run(line: string, options: ShellRunOptions = {}): Promise<ShellOutput> {
    const result = this.#queue.then(() => this.#run(line, options));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #run(line: string, options: ShellRunOptions): Promise<ShellOutput> {
    const into = options.into;
    // Without `into`, the whole output is kept (a register's value): up to a bound.
    const { dests, wanted, result } = destinations({
      into: into ?? new Uint8Array(COLLECT_BYTES),
      keepAfter: options.keepAfter,
    });
    if (this.#dead) return this.#ended("lost", 0);
    const mark = `RD${this.#token}-${++this.#seq}`;
    const script =
      `{ ${line}\n} </dev/null; printf '%s %d\\n' ${mark} $?; printf '%s\\n' ${mark} >&2\n`;
    let killed: "deadline" | undefined;
    const timer = options.timeout === undefined ? undefined : setTimeout(() => {
      killed = "deadline";
      this.kill();
    }, options.timeout);
    try {
      try {
        await this.#in.write(new TextEncoder().encode(script));
      } catch {
        return this.#ended(killed ? "killed" : "lost", 0);
      }
      let total = 0;
      const fill = new BufferFill(dests);
      let tail = "";
      const endLine = new RegExp(`${mark} (\\d+)\\n$`);
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await this.#out.read(new Uint8Array(this.#scratch));
        } catch {
          r = { done: true, value: undefined };
        }
        if (r.value !== undefined) this.#scratch = r.value.buffer as ArrayBuffer;
        if (r.done || r.value === undefined) {
          this.#dead = true;
          return this.#ended(killed ? "killed" : "lost", total);
        }
        const value = r.value;
        fill.put(value);
        total += value.length;
        const last = value.subarray(Math.max(0, value.length - TAIL_BYTES));
        tail = (tail + String.fromCharCode(...last)).slice(-TAIL_BYTES);
        const end = endLine.exec(tail);
        if (end === null) continue;
        // The command's own bytes end where its end line starts.
        const out = total - (tail.length - end.index);
        const code = Number(end[1]);
        const stderr = await this.#takeStderr(
          mark,
          code !== 0 || (into !== undefined && out !== wanted),
        );
        return { code, ...result(out), stdoutBytes: out, stderr };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The session ended before the command did: `killed` at its deadline, or
   * `lost` (its output ended: the ssh client exits now, or is made to).
   */
  async #ended(why: "killed" | "lost", total: number): Promise<ShellOutput> {
    const code = why === "killed" ? await this.#exit : await this.#exitWithin(2000);
    await this.#stderrSettled();
    return {
      code,
      stdout: new Uint8Array(0),
      stdoutBytes: total,
      stderr: this.#stderr,
      ...(why === "killed" ? { killed: "deadline" as const } : { lost: true }),
    };
  }

  /** Waits (bounded) for the rest of stderr once the process is gone. */
  async #stderrSettled(): Promise<void> {
    const deadline = performance.now() + 500;
    while (!this.#stderrDone && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The ssh client's exit status, once it has exited by itself within `ms` or been killed. */
  async #exitWithin(ms: number): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      this.#exit.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]);
    clearTimeout(timer);
    if (!ended) this.kill();
    return await this.#exit;
  }

  /** Kills the session's process group (the ssh client); it is dead from now on. */
  kill(): void {
    this.#dead = true;
    try {
      Deno.kill(-this.#child.pid, "SIGKILL");
    } catch { /* gone */ }
  }

  /** Ends the shell (end of its input), and kills it if it does not end within a second. */
  async close(): Promise<void> {
    try {
      await this.#in.close();
    } catch { /* gone */ }
    await this.#exitWithin(1000);
    try {
      await this.#out.cancel();
    } catch { /* closed */ }
    await this.#stderrSettled();
  }
}
