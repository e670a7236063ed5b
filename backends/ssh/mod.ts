/**
 * The `ssh://` backend: a remote board through the system OpenSSH client,
 * spawned with dax.
 *
 * URL: `ssh://[user@]host[:port][?identity=PATH&known_hosts=PATH&ssh_config=PATH&mem=PATH&origin=ADDR&via=dd|pixeldump|agent&agent=CMD&reg=dd|devmem&host_keys=strict|accept-new&retries=N&connect_timeout=DUR&pixeldump=PATH&devmem=PATH]`
 *
 * - One multiplexed master connection (ControlMaster, its ControlPath in a
 *   private temporary directory that is removed on close) is opened at the
 *   start, so a read costs a channel, not a handshake. `BatchMode=yes`: it
 *   never waits on a prompt.
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
import { UrlOptions } from "../options.ts";
import { runCommand } from "../process.ts";
import { UsageError } from "../../lib/errors.ts";
import { spawnAgent } from "../../lib/agent/spawn.ts";
import { hex } from "../../lib/units.ts";
import { shellQuote } from "./commands.ts";
import { connectSsh, type SshOptions } from "./connection.ts";

export { ddBlockSize, shellQuote } from "./commands.ts";
export { connectSsh, type SshConnection, type SshOptions, type SshVia } from "./connection.ts";

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
  const remote = `${options.agent ?? "ringdump"} agent --mem ${
    shellQuote(options.mem ?? "/dev/mem")
  } --origin ${hex(options.origin ?? 0n)}`;
  log.debug("ssh: starting the agent: {remote}", { remote });
  try {
    const client = await spawnAgent(ssh.command(remote), {
      geometry: options.geometry!,
      name: "ssh+agent",
      signal: options.signal,
      onClose: () => ssh.close(),
    });
    return Object.assign(client, { reconnects: 0 });
  } catch (e) {
    await ssh.close();
    throw e;
  }
}

/** What an `ssh://` URL names, checked. */
interface SshTarget {
  host: string;
  user?: string;
  port?: number;
}

function parseTarget(url: URL): SshTarget {
  if (url.hostname === "") {
    throw new UsageError(`backend URL '${url.href}': ssh needs a host: ssh://[user@]host[:port]`, {
      option: "--backend",
      value: url.href,
    });
  }
  if (url.password !== "") {
    throw new UsageError(
      `backend URL '${url.href}': no passwords in the URL; ssh uses keys (identity=PATH)`,
      { option: "--backend", value: url.href },
    );
  }
  if (url.pathname !== "" && url.pathname !== "/") {
    throw new UsageError(
      `backend URL '${url.href}': put the remote memory in mem=PATH, not the URL path`,
      { option: "--backend", value: url.href },
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return {
    host,
    user: url.username === "" ? undefined : decodeURIComponent(url.username),
    port: url.port === "" ? undefined : Number(url.port),
  };
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

const SSH_OPTIONS = [
  "identity",
  "known_hosts",
  "ssh_config",
  "host_keys",
  "mem",
  "origin",
  "via",
  "agent",
  "reg",
  "pixeldump",
  "devmem",
  "retries",
  "connect_timeout",
] as const;

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
  usage:
    "ssh://[user@]host[:port][?identity=PATH&known_hosts=PATH&ssh_config=PATH&mem=PATH&origin=ADDR&via=dd|pixeldump|agent&agent=CMD&reg=dd|devmem&host_keys=strict|accept-new&retries=N&connect_timeout=DUR&pixeldump=PATH&devmem=PATH]",
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
    });
  },
};

/**
 * The host and {@linkcode SshOptions} an `ssh://` URL names (checked; a
 * UsageError for an unknown or bad option).
 *
 * @example
 * ```ts
 * import { sshOptionsFromUrl } from "./mod.ts";
 * const o = sshOptionsFromUrl(new URL("ssh://root@board:2222?via=agent&mem=/dev/mem"));
 * console.log(o.host, o.user, o.port, o.via); // "board" "root" 2222 "agent"
 * ```
 */
export function sshOptionsFromUrl(url: URL): SshOptions & { host: string } {
  const o = new UrlOptions(url, SSH_OPTIONS);
  const t = parseTarget(url);
  const has = (k: string) => url.searchParams.has(k);
  return {
    host: t.host,
    user: t.user,
    port: t.port,
    identity: has("identity") ? o.string("identity", "") : undefined,
    knownHosts: has("known_hosts") ? o.string("known_hosts", "") : undefined,
    sshConfig: has("ssh_config") ? o.string("ssh_config", "") : undefined,
    hostKeys: o.choice("host_keys", ["strict", "accept-new"] as const, "strict"),
    via: o.choice("via", ["dd", "pixeldump", "agent"] as const, "dd"),
    agent: has("agent") ? o.string("agent", "ringdump") : undefined,
    mem: has("mem") ? o.string("mem", "/dev/mem") : undefined,
    origin: has("origin") ? o.address("origin", 0n) : undefined,
    reg: has("reg") ? o.choice("reg", ["dd", "devmem"] as const, "dd") : undefined,
    pixeldump: has("pixeldump") ? o.string("pixeldump", "pixeldump") : undefined,
    devmem: has("devmem") ? o.string("devmem", "devmem") : undefined,
    retries: o.integer("retries", 5),
    connectTimeout: o.duration("connect_timeout", 5000),
  };
}
