/**
 * Measurement 5 of the bench: captures over SSH (`via=agent` and `via=dd`)
 * of a ring image on the loopback sshd, against `ssh host cat IMG >
 * /dev/null` of the same bytes over the same sshd.
 *
 * @module
 */
import { DiscardSink } from "../lib/sink/mod.ts";
import type { Sshd } from "../testing/sshd.ts";
import { type BenchBackend, openBenchBackend, withSshd } from "./backends.ts";
import { createLapRing, lapCapture, type LapRing } from "./lap.ts";
import { type Figure, figure, skipped } from "./results.ts";
import { median, MIB, run, shmDir } from "./util.ts";
import { errorMessage } from "../lib/errors.ts";

/** Options of {@linkcode remoteThroughput}. */
export interface RemoteOptions {
  /** Bytes in the ring image. */
  ringBytes: number;
  /** Full rings per run. */
  laps: number;
  /** Runs of each (interleaved); the median counts. */
  reps: number;
}

/**
 * `ssh host cat IMG > /dev/null`, or with `piped`, `ssh host cat IMG | cat >
 * /dev/null`: the same bytes read by a process of their own, as any capture
 * must (the ssh client then writes a pipe, not /dev/null), the least a
 * capture adds to the reference on the same cores.
 */
async function sshCat(sshd: Sshd, ring: LapRing, laps: number, piped = false): Promise<number> {
  const argv = [
    "ssh",
    "-p",
    String(sshd.port),
    "-i",
    sshd.identity,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${sshd.knownHosts}`,
    "-o",
    "BatchMode=yes",
    `${sshd.user}@${sshd.host}`,
    "cat",
    ...Array(laps).fill(ring.path),
  ];
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const r = piped
    ? await run(["bash", "-o", "pipefail", "-c", `${argv.map(quote).join(" ")} | cat > /dev/null`])
    : await run(argv, { stdout: "null" });
  if (r.code !== 0) throw new Error(`ssh cat${piped ? " | cat" : ""}: ${r.stderr.trim()}`);
  return laps * ring.geometry.ringBytes / (r.ms / 1000) / MIB;
}

/**
 * Capture throughput through ssh `via=agent` and `via=dd` vs `ssh cat`.
 *
 * @example
 * ```ts ignore
 * import { remoteThroughput } from "./remote.ts";
 * console.log(await remoteThroughput({ ringBytes: 8 << 20, laps: 2, reps: 1 }));
 * ```
 */
export function remoteThroughput(options: RemoteOptions): Promise<Figure[]> {
  const kinds: BenchBackend[] = ["ssh_agent", "ssh_dd"];
  const refName = "ssh host cat IMG > /dev/null (handshake included)";
  return withSshd(async (sshd, why) => {
    if (!sshd) {
      return kinds.map((k) => skipped(`remote.${k}`, `${k} capture`, "MiB/s", refName, why!));
    }
    const ring = await createLapRing(shmDir(), options.ringBytes);
    try {
      const ref: number[] = [], piped: number[] = [];
      const got = new Map<BenchBackend, number[] | string>(kinds.map((k) => [k, []]));
      for (let i = 0; i < options.reps; i++) {
        ref.push(await sshCat(sshd, ring, options.laps));
        piped.push(await sshCat(sshd, ring, options.laps, true));
        for (const kind of kinds) {
          const seen = got.get(kind);
          if (typeof seen === "string") continue;
          try {
            // The master connection (and the agent) start before the clock does.
            const backend = await openBenchBackend(kind, ring.path, ring.geometry, sshd);
            try {
              const t = await lapCapture({
                backend,
                sink: new DiscardSink(),
                ring,
                laps: options.laps,
              });
              seen!.push(t.bytes / t.seconds / MIB);
            } finally {
              await backend.close();
            }
          } catch (e) {
            got.set(kind, `failed: ${errorMessage(e).split("\n")[0]}`);
          }
        }
      }
      const note =
        `${options.laps} x ${
          (ring.geometry.ringBytes / MIB).toFixed(0)
        } MiB ring in ${shmDir()} over sshd on 127.0.0.1, median of ${options.reps}; ` +
        `connection set-up excluded for ringdump, included for ssh cat; ` +
        `ssh cat | cat > /dev/null (a reader process of its own, as any capture has): ${
          median(piped).toFixed(0)
        } MiB/s, ${(median(piped) / median(ref)).toFixed(2)} of ssh cat`;
      return kinds.map((kind) => {
        const v = got.get(kind)!;
        if (typeof v === "string") {
          return skipped(`remote.${kind}`, `${kind} capture`, "MiB/s", refName, v);
        }
        return figure({
          name: `remote.${kind}`,
          what: `ssh ${
            kind === "ssh_agent" ? "via=agent" : "via=dd"
          } capture -> discard sink (one lap per period)`,
          value: median(v),
          unit: "MiB/s",
          refName,
          refValue: median(ref),
          goal: kind === "ssh_agent" ? 0.9 : 0.5,
          note,
        });
      });
    } finally {
      await ring.remove();
    }
  });
}
