/**
 * The options of the `ssh://` backend, declared once: {@linkcode SshOptions}
 * (the library's), their defaults ({@linkcode SSH_DEFAULTS}), and the URL
 * query options that set them ({@linkcode SSH_URL_OPTIONS}: name, type,
 * default, doc), from which the URL is read ({@linkcode sshOptionsFromUrl})
 * and `ringdump backends` shows the URL form and each option.
 *
 * @module
 */
import type { BackendOption } from "../types.ts";
import { UrlOptions } from "../options.ts";
import { UsageError } from "../../lib/errors.ts";
import type { RingGeometry } from "../../lib/ring.ts";
import type { Clock } from "../../lib/clock.ts";

/** How the remote side reads memory. */
export type SshVia = "dd" | "pixeldump" | "agent";

/** Options of {@linkcode openSsh}. */
export interface SshOptions {
  /** Remote user; default: ssh's own choice (ssh_config, then the local user). */
  user?: string;
  /** TCP port; default: ssh's own choice (22). */
  port?: number;
  /** Private key file (`-i`, with IdentitiesOnly). */
  identity?: string;
  /** known_hosts file to verify the host key against. */
  knownHosts?: string;
  /** ssh_config file (`-F`). */
  sshConfig?: string;
  /** `strict`: the host key must be known; `accept-new`: trust a new host once; default {@linkcode SSH_DEFAULTS}. */
  hostKeys?: "strict" | "accept-new";
  /** How the remote side reads: `dd`, `pixeldump` or `agent`; default {@linkcode SSH_DEFAULTS}. */
  via?: SshVia;
  /** `via=agent`: the remote command that runs ringdump; default {@linkcode SSH_DEFAULTS}. */
  agent?: string;
  /**
   * `via=agent`: how long the agent may take to start and say hello, ms (a slow board, the
   * first run of a kit, emulation); default {@linkcode SSH_DEFAULTS}.
   */
  agentTimeout?: number;
  /**
   * The capture's period, ms: sets the deadline of each remote command
   * (20 periods, at least 5 s, plus 1 ms per KiB it reads); one past it
   * is killed and the capture ends with a backend error naming it. Default 100.
   */
  period?: number;
  /** `via=agent`: the ring, sent to the agent so it maps that window (required there). */
  geometry?: RingGeometry;
  /** Remote memory device or image for `via=dd`; default {@linkcode SSH_DEFAULTS}. */
  mem?: string;
  /** Physical address `mem`'s first byte stands for; default {@linkcode SSH_DEFAULTS}. */
  origin?: bigint;
  /** Registers through remote `devmem` or `dd`; default devmem for /dev/mem, dd otherwise. */
  reg?: "dd" | "devmem";
  /** Remote pixeldump program; default {@linkcode SSH_DEFAULTS}. */
  pixeldump?: string;
  /** Remote devmem program; default {@linkcode SSH_DEFAULTS}. */
  devmem?: string;
  /** Page size: `via=pixeldump` reads `PAGE_SIZE COUNT`; default 4096. */
  pageSize?: number;
  /** Reconnection attempts after a drop before giving up; default {@linkcode SSH_DEFAULTS}. */
  retries?: number;
  /** First backoff between attempts, ms (doubling, at most 2 s); default 200. */
  backoff?: number;
  /** TCP connect timeout, ms; default {@linkcode SSH_DEFAULTS}. */
  connectTimeout?: number;
  /** Local ssh program; default `ssh`. */
  ssh?: string;
  /** Clock for the backoff between reconnection attempts; default the system clock. */
  clock?: Clock;
  /** Aborts the initial connection. */
  signal?: AbortSignal;
}

/**
 * The defaults of {@linkcode SshOptions} (and of the URL options that set them).
 *
 * @example
 * ```ts
 * import { SSH_DEFAULTS } from "./options.ts";
 * console.log(SSH_DEFAULTS.retries, SSH_DEFAULTS.mem); // 5 "/dev/mem"
 * ```
 */
export const SSH_DEFAULTS: {
  readonly hostKeys: "strict" | "accept-new";
  readonly via: SshVia;
  readonly agent: string;
  readonly agentTimeout: number;
  readonly mem: string;
  readonly origin: bigint;
  readonly pixeldump: string;
  readonly devmem: string;
  readonly pageSize: number;
  readonly retries: number;
  readonly backoff: number;
  readonly connectTimeout: number;
  readonly ssh: string;
} = Object.freeze({
  hostKeys: "strict",
  via: "dd",
  agent: "ringdump",
  agentTimeout: 30_000,
  mem: "/dev/mem",
  origin: 0n,
  pixeldump: "pixeldump",
  devmem: "devmem",
  pageSize: 4096,
  retries: 5,
  backoff: 200,
  connectTimeout: 5000,
  ssh: "ssh",
});

/** A URL option of `ssh://`: how it is shown, and the {@linkcode SshOptions} field it sets. */
interface SshUrlOption extends BackendOption {
  readonly key: keyof SshOptions;
}

const URL_OPTIONS: readonly SshUrlOption[] = [
  {
    key: "identity",
    name: "identity",
    type: "path",
    doc: "private key file (ssh -i, with IdentitiesOnly)",
  },
  {
    key: "knownHosts",
    name: "known_hosts",
    type: "path",
    doc: "known_hosts file the host key is verified against (your lab's own file)",
  },
  { key: "sshConfig", name: "ssh_config", type: "path", doc: "ssh_config file (ssh -F)" },
  {
    key: "mem",
    name: "mem",
    type: "path",
    default: SSH_DEFAULTS.mem,
    doc:
      "remote memory device, or an image standing for physical memory from origin (via=dd, via=agent)",
  },
  {
    key: "origin",
    name: "origin",
    type: "address",
    default: String(SSH_DEFAULTS.origin),
    doc: "physical address the first byte of mem stands for",
  },
  {
    key: "via",
    name: "via",
    type: "choice",
    choices: ["dd", "pixeldump", "agent"],
    default: SSH_DEFAULTS.via,
    doc: "how the board reads: its dd, its pixeldump and devmem, or a resident ringdump agent",
  },
  {
    key: "agent",
    name: "agent",
    type: "string",
    placeholder: "CMD",
    default: SSH_DEFAULTS.agent,
    doc: "via=agent: the remote command that runs ringdump",
  },
  {
    key: "agentTimeout",
    name: "agent_timeout",
    type: "duration",
    default: `${SSH_DEFAULTS.agentTimeout / 1000}s`,
    doc: "via=agent: how long the agent may take to start and say hello (a slow board, emulation)",
  },
  {
    key: "reg",
    name: "reg",
    type: "choice",
    choices: ["dd", "devmem"],
    doc:
      "registers through the remote devmem or dd (default devmem when mem is /dev/mem, dd for an image)",
  },
  {
    key: "hostKeys",
    name: "host_keys",
    type: "choice",
    choices: ["strict", "accept-new"],
    default: SSH_DEFAULTS.hostKeys,
    doc:
      "strict: the host key must be known; accept-new: trust a host never seen before (a changed key is still refused)",
  },
  {
    key: "retries",
    name: "retries",
    type: "integer",
    default: String(SSH_DEFAULTS.retries),
    doc: "reconnection attempts after a dropped connection",
  },
  {
    key: "connectTimeout",
    name: "connect_timeout",
    type: "duration",
    default: `${SSH_DEFAULTS.connectTimeout / 1000}s`,
    doc: "TCP connect timeout",
  },
  {
    key: "pixeldump",
    name: "pixeldump",
    type: "path",
    default: SSH_DEFAULTS.pixeldump,
    doc: "the remote pixeldump program (via=pixeldump)",
  },
  {
    key: "devmem",
    name: "devmem",
    type: "path",
    default: SSH_DEFAULTS.devmem,
    doc: "the remote devmem program",
  },
];

/**
 * The URL query options of `ssh://`: name, type, default and doc of each.
 *
 * @example
 * ```ts
 * import { SSH_URL_OPTIONS } from "./options.ts";
 * console.log(SSH_URL_OPTIONS.find((o) => o.name === "retries")?.default); // "5"
 * ```
 */
export const SSH_URL_OPTIONS: readonly BackendOption[] = URL_OPTIONS.map(({ key: _, ...o }) => o);

/** The target an `ssh://` URL names, checked. */
interface SshTarget {
  host: string;
  user?: string;
  port?: number;
}

function parseTarget(url: URL): SshTarget {
  if (url.hostname === "") {
    throw new UsageError(`backend URL '${url.href}': ssh needs a host: ssh://[user@]host[:port]`, {
      option: "backend",
      value: url.href,
    });
  }
  if (url.password !== "") {
    throw new UsageError(
      `backend URL '${url.href}': no passwords in the URL; ssh uses keys (identity=PATH)`,
      { option: "backend", value: url.href },
    );
  }
  if (url.pathname !== "" && url.pathname !== "/") {
    throw new UsageError(
      `backend URL '${url.href}': put the remote memory in mem=PATH, not the URL path`,
      { option: "backend", value: url.href },
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return {
    host,
    user: url.username === "" ? undefined : decodeURIComponent(url.username),
    port: url.port === "" ? undefined : Number(url.port),
  };
}

/**
 * The host and {@linkcode SshOptions} an `ssh://` URL names (checked; a
 * UsageError for an unknown or bad option). Only the options the URL gives
 * are set; the rest keep their defaults ({@linkcode SSH_DEFAULTS}) downstream.
 *
 * @example
 * ```ts
 * import { sshOptionsFromUrl } from "./options.ts";
 * const o = sshOptionsFromUrl(new URL("ssh://root@board:2222?via=agent&mem=/dev/mem"));
 * console.log(o.host, o.user, o.port, o.via); // "board" "root" 2222 "agent"
 * ```
 */
export function sshOptionsFromUrl(url: URL): SshOptions & { host: string } {
  const o = new UrlOptions(url, URL_OPTIONS.map((u) => u.name));
  const t = parseTarget(url);
  const out: SshOptions & { host: string } = { host: t.host, user: t.user, port: t.port };
  for (const u of URL_OPTIONS) {
    if (url.searchParams.has(u.name)) Object.assign(out, { [u.key]: read(o, u) });
  }
  return out;
}

function read(o: UrlOptions, u: SshUrlOption): string | bigint | number {
  switch (u.type) {
    case "path":
    case "string":
      return o.string(u.name, "");
    case "choice":
      return o.choice(u.name, u.choices ?? [], "");
    case "address":
      return o.address(u.name, 0n);
    case "integer":
      return o.integer(u.name, 0);
    case "number":
      return o.number(u.name, 0);
    case "size":
      return o.size(u.name, 0);
    case "duration":
      return o.duration(u.name, 0);
  }
}
