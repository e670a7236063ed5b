/**
 * The `ssh://` backend: a remote board through the system OpenSSH client,
 * spawned with dax.
 *
 * URL: `ssh://[user@]host[:port][?OPTIONS]`, the options declared once in
 * `options.ts` ({@linkcode SSH_URL_OPTIONS}; `ringdump backends` lists them).
 *
 * - One multiplexed master connection (ControlMaster, its ControlPath in a
 *   private temporary directory that is removed on close) is opened at the
 *   start, and over it one remote shell (`exec sh`, session.ts) that runs the
 *   `dd`, `devmem` and `pixeldump` command lines one after another: a read
 *   costs a line written to that shell, not a channel nor a handshake.
 *   `BatchMode=yes`: it never waits on a prompt.
 * - Host keys are always verified against known_hosts (`known_hosts=` points
 *   at a lab's own file). The only relaxation is the explicit opt-in
 *   `host_keys=accept-new`, which trusts a host never seen before (and still
 *   refuses a changed key).
 * - `via=dd` (default): the remote `dd` reads `mem` (default /dev/mem, or an
 *   image standing for physical memory from `origin`), page-aligned, with
 *   operands busybox dd has. Registers through the remote `devmem`
 *   (`reg=devmem`, the default when `mem` is /dev/mem: a true 32-bit access)
 *   or `dd` (`reg=dd`, the default for an image). `via=pixeldump`: the remote
 *   `pixeldump -a ADDR - PAGE_SIZE COUNT 1` and `devmem ADDR WIDTH`.
 *   Every number put into a remote command line is formatted here from an
 *   integer; every path is shell-quoted.
 * - `via=agent`: one resident `CMD agent --mem MEM --origin ORIGIN` on the
 *   board (`agent=CMD`, default `ringdump`), started once over the master
 *   connection; every read is a request on that channel (lib/agent/).
 *   The channel is not re-established: a drop fails the capture (exit 3).
 * - A dropped connection is re-established with bounded retries and
 *   exponential backoff, and the command that failed is run again; if the
 *   ring did not lap during the outage, nothing is lost (the dumper's
 *   overrun and torn-read checks decide). When every retry fails, the read
 *   fails with a BackendError (exit 3) and what was captured stays on disk.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Backend, BackendFactory, BackendOpenOptions, BackendProbe } from "../types.ts";
import { urlForm } from "../options.ts";
import { runCommand } from "../process.ts";
import { UsageError } from "../../lib/errors.ts";
import { hex } from "../../lib/units.ts";
import { shellQuote } from "./commands.ts";
import { connectSsh } from "./connection.ts";
import { SSH_DEFAULTS, SSH_URL_OPTIONS, type SshOptions, sshOptionsFromUrl } from "./options.ts";

export { ddBlockSize, shellQuote } from "./commands.ts";
export { connectSsh, type SshConnection } from "./connection.ts";
export { RemoteShell, type ShellOutput, type ShellRunOptions } from "./session.ts";
export {
  SSH_DEFAULTS,
  SSH_URL_OPTIONS,
  type SshOptions,
  sshOptionsFromUrl,
  type SshVia,
} from "./options.ts";

const log = getLogger(["ringdump", "ssh"]);

/**
 * Opens the ssh backend: checks the options, starts the master connection,
 * and returns once it is up. With `via: "agent"`, it then starts the agent
 * over that connection and returns a backend reading through it.
 *
 * @example
 * ```ts ignore
 * import { openSsh } from "./mod.ts";
 * const board = await openSsh("board.lab", { user: "root", mem: "/dev/mem" });
 * console.log(await board.readRegister(0x43c00010n, 32));
 * await board.close();
 * ```
 */
export async function openSsh(
  host: string,
  options: SshOptions = {},
): Promise<Backend & { readonly reconnects: number }> {
  if (options.via === "agent" && options.geometry === undefined) {
    throw new UsageError("ssh: via=agent needs the ring geometry (options.geometry)", {
      option: "via",
      value: "agent",
    });
  }
  const ssh = await connectSsh(host, options);
  if (options.via !== "agent") return ssh;
  const remote = `${options.agent ?? SSH_DEFAULTS.agent} agent --mem ${
    shellQuote(options.mem ?? SSH_DEFAULTS.mem)
  } --origin ${hex(options.origin ?? SSH_DEFAULTS.origin)}`;
  log.debug("ssh: starting the agent: {remote}", { remote });
  try {
    // The agent's client (its protocol, the controls) only when it is used:
    // a pixeldump or devmem capture loads this module too (backends/mod.ts).
    const { spawnAgent } = await import("../../lib/agent/spawn.ts");
    const client = await spawnAgent(ssh.command(remote), {
      geometry: options.geometry!,
      name: "ssh+agent",
      helloTimeout: options.agentTimeout ?? SSH_DEFAULTS.agentTimeout,
      signal: options.signal,
      onClose: () => ssh.close(),
    });
    return Object.assign(client, { reconnects: 0 });
  } catch (e) {
    await ssh.close();
    throw e;
  }
}

async function probe(): Promise<BackendProbe> {
  const r = await runCommand(["ssh", "-V"]).catch(() => undefined);
  if (r === undefined || r.code === 127) {
    return { usable: false, detail: "ssh: not on PATH (install openssh-client)" };
  }
  const version = r.stderr.trim().split("\n")[0];
  return {
    usable: r.code === 0,
    detail: r.code === 0 ? `ssh client: ${version}` : `ssh -V exited with ${r.code}`,
  };
}

/**
 * The `ssh://` backend factory.
 *
 * @example
 * ```ts
 * import { sshBackend } from "./mod.ts";
 * console.log(sshBackend.scheme); // "ssh"
 * ```
 */
export const sshBackend: BackendFactory = {
  scheme: "ssh",
  description:
    "a remote board through the OpenSSH client (one multiplexed connection; remote dd, devmem, pixeldump or a resident ringdump agent)",
  usage: urlForm("ssh://[user@]host[:port]", SSH_URL_OPTIONS),
  options: SSH_URL_OPTIONS,
  needs:
    "the ssh client here; key login (BatchMode) to a host in known_hosts; dd (busybox is enough) and devmem, or pixeldump, or ringdump (via=agent, see ringdump deploy) there",
  probe,
  // deno-lint-ignore require-await
  async open(url: URL, options: BackendOpenOptions): Promise<Backend> {
    const { host, ...o } = sshOptionsFromUrl(url);
    return openSsh(host, {
      ...o,
      pageSize: options.geometry.pageSize,
      geometry: options.geometry,
      signal: options.signal,
      period: options.period,
    });
  },
};
