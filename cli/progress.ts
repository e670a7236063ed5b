/**
 * The progress line of `ringdump capture` on a terminal: elapsed time, bytes,
 * rate, headroom and lost pages, five times a second.
 *
 * @module
 */
import { $ } from "@david/dax";
import type { DumpStats } from "../lib/dumper_options.ts";
import { formatBytes } from "../lib/units.ts";

/** A running progress line; `stop()` ends it (idempotent). */
export interface Progress {
  /** Stops updating and finishes the line. */
  stop(): void;
}

/**
 * Shows a progress line on stderr for a capture whose stats `source.stats`
 * holds, with a bar when the capture has a `duration` (ms).
 *
 * @example
 * ```ts ignore
 * import { startProgress } from "./progress.ts";
 * const progress = startProgress({ stats: { bytes: 0, headroom: 1, lostPages: 0 } }, 3000);
 * progress.stop();
 * ```
 */
export function startProgress(
  source: { readonly stats: Pick<DumpStats, "bytes" | "headroom" | "lostPages"> },
  duration: number | undefined,
): Progress {
  const t0 = performance.now();
  const bar = $.progress({
    prefix: "Capturing",
    length: duration === undefined ? undefined : Math.ceil(duration / 1000),
  });
  const update = () => {
    const s = source.stats;
    const secs = (performance.now() - t0) / 1000;
    bar.message(
      `${secs.toFixed(1)} s  ${formatBytes(s.bytes)}  ${
        formatBytes(secs > 0 ? s.bytes / secs : 0)
      }/s  ` +
        `headroom ${(s.headroom * 100).toFixed(0)}%` +
        (s.lostPages ? `  lost ${s.lostPages} pages` : ""),
    );
    if (duration !== undefined) {
      bar.position(Math.min(Math.ceil(duration / 1000), Math.floor(secs)));
    }
  };
  let ticker: ReturnType<typeof setInterval> | undefined = setInterval(update, 200);
  return {
    stop() {
      if (ticker === undefined) return;
      clearInterval(ticker);
      ticker = undefined;
      bar.finish();
    },
  };
}
