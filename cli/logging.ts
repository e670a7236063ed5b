/**
 * Logging set-up: LogTape, to stderr, so stdout stays free for captured data.
 *
 * @module
 */
import { configureSync, getTextFormatter, type LogLevel, type LogRecord } from "@logtape/logtape";
import { UsageError } from "../lib/errors.ts";
import { LOG_LEVELS } from "./options.ts";

export { LOG_LEVELS } from "./options.ts";

/**
 * Sends ringdump's log records at `level` and above to stderr, synchronously
 * (nothing is lost when the process exits right after).
 *
 * @example
 * ```ts
 * import { configureLogging } from "./logging.ts";
 * configureLogging("warning");
 * ```
 */
export function configureLogging(level: string): void {
  if (!(LOG_LEVELS as string[]).includes(level)) {
    throw new UsageError(`--log-level: '${level}' is not one of ${LOG_LEVELS.join(", ")}`, {
      option: "--log-level",
      value: level,
    });
  }
  const format = getTextFormatter({ timestamp: "time", category: "." });
  const enc = new TextEncoder();
  const stderrSink = (record: LogRecord) => {
    const line = enc.encode(format(record));
    let off = 0;
    while (off < line.length) off += Deno.stderr.writeSync(line.subarray(off));
  };
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink },
    loggers: [
      { category: ["ringdump"], lowestLevel: level as LogLevel, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
