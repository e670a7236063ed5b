/**
 * The backends the bench compares, each opened on a memory image (origin 0):
 * devmem directly, pixeldump through the test emulators, and ssh `via=dd` and
 * `via=agent` through a real sshd on 127.0.0.1 (testing/sshd.ts).
 *
 * @module
 */
import { type Backend, openBackend } from "../backends/mod.ts";
import { openPixeldump } from "../backends/pixeldump.ts";
import type { RingGeometry } from "../lib/ring.ts";
import { type Sshd, sshMissing, startSshd } from "../testing/sshd.ts";
import { benchEmulators } from "./util.ts";
import { REMOTE_RINGDUMP } from "../testing/run_cli.ts";
import { errorMessage } from "../lib/errors.ts";

/** A backend the bench knows. */
export type BenchBackend = "devmem" | "pixeldump" | "ssh_dd" | "ssh_agent";

/** Every bench backend, in table order. */
export const BENCH_BACKENDS: readonly BenchBackend[] = [
  "devmem",
  "pixeldump",
  "ssh_dd",
  "ssh_agent",
];

/** Environment that points the test emulators at `image`. */
export function emulatorEnv(image: string): Record<string, string> {
  return { RINGDUMP_IMAGE: image, RINGDUMP_IMAGE_ORIGIN: "0" };
}

/**
 * Opens `kind` on `image` for `geometry`; `sshd` is needed for the ssh kinds.
 *
 * @example
 * ```ts ignore
 * import { openBenchBackend } from "./backends.ts";
 * import { ringGeometry } from "../lib/ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const b = await openBenchBackend("devmem", "/dev/shm/x.img", geometry);
 * await b.close();
 * ```
 */
export async function openBenchBackend(
  kind: BenchBackend,
  image: string,
  geometry: RingGeometry,
  sshd?: Sshd,
): Promise<Backend> {
  if (kind === "pixeldump") {
    const e = await benchEmulators();
    return openPixeldump({
      bin: e.pixeldump,
      reg: e.devmem,
      pageSize: geometry.pageSize,
      env: emulatorEnv(image),
    });
  }
  return openBackend((await benchBackendUrl(kind, image, sshd)).url, { geometry });
}

/**
 * The `--backend` URL of `kind` on `image`, and the environment the capture
 * needs (the emulators' image for pixeldump), for a `ringdump capture`
 * process; `sshd` is needed for the ssh kinds.
 *
 * @example
 * ```ts ignore
 * import { benchBackendUrl } from "./backends.ts";
 * console.log((await benchBackendUrl("devmem", "/dev/shm/x.img")).url); // devmem:/dev/shm/x.img?origin=0
 * ```
 */
export async function benchBackendUrl(
  kind: BenchBackend,
  image: string,
  sshd?: Sshd,
): Promise<{ url: string; env: Record<string, string> }> {
  switch (kind) {
    case "devmem":
      return { url: `devmem:${image}?origin=0`, env: {} };
    case "pixeldump": {
      const e = await benchEmulators();
      const q = new URLSearchParams({ bin: e.pixeldump, reg: e.devmem });
      return { url: `pixeldump:?${q}`, env: emulatorEnv(image) };
    }
    case "ssh_dd":
    case "ssh_agent": {
      if (!sshd) throw new Error(`${kind} needs a running sshd`);
      const extra: Record<string, string> = { mem: image, origin: "0" };
      if (kind === "ssh_agent") Object.assign(extra, { via: "agent", agent: REMOTE_RINGDUMP });
      return { url: sshd.url(extra), env: {} };
    }
  }
}

/**
 * Runs `fn` with a real sshd on 127.0.0.1, or with the reason none can run.
 *
 * @example
 * ```ts ignore
 * import { withSshd } from "./backends.ts";
 * await withSshd(async (sshd, why) => console.log(sshd?.port ?? why));
 * ```
 */
export async function withSshd<T>(
  fn: (sshd: Sshd | undefined, why: string | undefined) => Promise<T>,
): Promise<T> {
  const missing = await sshMissing();
  if (missing !== undefined) return await fn(undefined, "sshd missing");
  let sshd: Sshd;
  try {
    sshd = await startSshd();
  } catch (e) {
    return await fn(undefined, `sshd did not start: ${errorMessage(e).split("\n")[0]}`);
  }
  try {
    return await fn(sshd, undefined);
  } finally {
    await sshd.stop();
  }
}
