/**
 * Test helper: a real OpenSSH server (Debian openssh-server) on 127.0.0.1 and
 * a free port, with a host key, a user key pair, authorized_keys and a
 * known_hosts file generated into a private temporary directory. Stops it
 * (and every connection it serves) afterwards. Test tool only.
 */
import { $ } from "@david/dax";
import { ignoreUnless, missingTools, requireTools } from "./tools.ts";

/** Where the tools are; a missing one fails under CI and skips otherwise. */
export const SSHD = "/usr/sbin/sshd";

/** The remote side's `dd` is busybox's, as on a board. */
export const BUSYBOX = "/usr/bin/busybox";

/** Why the SSH tests cannot run here, or undefined when they can (see testing/tools.ts). */
export function sshMissing(): Promise<string | undefined> {
  return missingTools(["sshd", "ssh", "busybox"]);
}

// The skip rule lives in testing/tools.ts; re-exported for the tests that import it from here.
export { ignoreUnless, requireTools };

/** A running sshd. */
export interface Sshd {
  /** 127.0.0.1 */
  readonly host: string;
  /** Its port. */
  readonly port: number;
  /** The user the test logs in as (the current user). */
  readonly user: string;
  /** Private key of that user. */
  readonly identity: string;
  /** known_hosts holding the server's host key. */
  readonly knownHosts: string;
  /** The temporary directory holding all of it. */
  readonly dir: string;
  /** `ssh://user@127.0.0.1:port?identity=...&known_hosts=...` plus `extra` query options. */
  url(extra?: Record<string, string>): string;
  /** Connections the server is serving now. */
  connections(): number;
  /** Kills every connection the server is serving (the listener stays up). */
  dropConnections(): Promise<number>;
  /** Kills the server and every connection for good, keeping its files; idempotent. */
  kill(): Promise<void>;
  /** Kills it and removes its files; idempotent. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function childrenOf(pid: number): number[] {
  // Through cat: Deno's file API needs --allow-all for /proc, which the tests do not get.
  const out = new Deno.Command("cat", {
    args: [`/proc/${pid}/task/${pid}/children`],
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/).filter((s) => s !== "")
    .map(Number);
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch { /* already gone */ }
}

/** Starts sshd; the caller must `stop()` it. */
export async function startSshd(): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "ringdump-sshd-" });
  const user = (await $`id -un`.text()).trim();
  const hostKey = `${dir}/host_ed25519`;
  const identity = `${dir}/user_ed25519`;
  await $`ssh-keygen -q -t ed25519 -N ${""} -f ${hostKey}`;
  await $`ssh-keygen -q -t ed25519 -N ${""} -f ${identity}`;
  await Deno.copyFile(`${identity}.pub`, `${dir}/authorized_keys`);
  const port = freePort();
  const knownHosts = `${dir}/known_hosts`;
  const pub = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(/\s+/).slice(0, 2).join(" ");
  await Deno.writeTextFile(knownHosts, `[127.0.0.1]:${port} ${pub}\n`);
  await Deno.mkdir(`${dir}/home`);
  await Deno.mkdir(`${dir}/bin`);
  await Deno.symlink(BUSYBOX, `${dir}/bin/dd`);
  const config = `${dir}/sshd_config`;
  await Deno.writeTextFile(
    config,
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      `PidFile ${dir}/sshd.pid`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "MaxSessions 64",
      "MaxStartups 64",
      "LogLevel ERROR",
      // Every channel runs the remote user's shell, and bash sources ~/.bashrc for ssh
      // commands: a developer's (pyenv init...) costs ~150 ms a channel. A board's shell has
      // no such start-up, so the test sessions get a HOME of their own.
      // As on a board, `dd` in the sessions is busybox's (a dd of its own comes first in PATH).
      `SetEnv HOME=${dir}/home PATH=${dir}/bin:/usr/local/bin:/usr/bin:/bin`,
      "",
    ].join("\n"),
  );
  // The privilege separation directory, as the openssh-server service creates it.
  if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const child = new Deno.Command(SSHD, {
    args: ["-D", "-e", "-f", config, "-E", `${dir}/sshd.log`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  // Ready when it accepts connections.
  for (let i = 0;; i++) {
    if (exited) {
      const log = await Deno.readTextFile(`${dir}/sshd.log`).catch(() => "");
      throw new Error(`sshd exited at start: ${log}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (i > 500) throw new Error("sshd did not start listening within 5 s");
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  let stopped = false;
  const sshd: Sshd = {
    host: "127.0.0.1",
    port,
    user,
    identity,
    knownHosts,
    dir,
    url(extra = {}) {
      const q = new URLSearchParams({ identity, known_hosts: knownHosts, ...extra });
      return `ssh://${user}@127.0.0.1:${port}?${q}`;
    },
    connections(): number {
      return childrenOf(child.pid).length;
    },
    dropConnections(): Promise<number> {
      // Each connection is a child of the listener (and has children of its own).
      const kids = childrenOf(child.pid);
      for (const pid of kids) {
        for (const g of childrenOf(pid)) kill(g, "SIGKILL");
        kill(pid, "SIGKILL");
      }
      return Promise.resolve(kids.length);
    },
    async kill() {
      if (stopped) return;
      stopped = true;
      const kids = childrenOf(child.pid);
      kill(child.pid, "SIGKILL");
      for (const pid of kids) {
        for (const g of childrenOf(pid)) kill(g, "SIGKILL");
        kill(pid, "SIGKILL");
      }
      await status;
    },
    async stop() {
      await sshd.kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return sshd;
}
