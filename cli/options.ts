/**
 * Option parsers and the ring-geometry flags shared by the CLI's commands
 * (`capture`, `sim`, ...), on top of commander.
 *
 * @module
 */
import type { Command } from "commander";
import type { LogLevel } from "@logtape/logtape";
import { type RingGeometry, ringGeometry } from "../lib/ring.ts";
import { parseAddress, parseDuration, parseInteger, parseSize } from "../lib/units.ts";

/** The raw values of the geometry flags as commander collects them. */
export interface GeometryFlags {
  /** `--base` */
  base: string;
  /** `--page-size` */
  pageSize: string;
  /** `--pages` */
  pages: string;
  /** `--counter` */
  counter?: string;
  /** `--counter-wrap` */
  counterWrap: string;
}

/**
 * Adds `--base`, `--page-size`, `--pages`, `--counter` and `--counter-wrap`
 * to a command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addGeometryOptions } from "./options.ts";
 * const cmd = addGeometryOptions(new Command("capture"));
 * console.log(cmd.options.length); // 5
 * ```
 */
export function addGeometryOptions(cmd: Command): Command {
  return cmd
    .option("--base <addr>", "physical address of the ring (decimal or 0x hex)", "0x0")
    .option("--page-size <size>", "bytes per page (4096, 0x1000, 16KiB)", "4KiB")
    .option("--pages <n>", "pages in the ring", "256")
    .option(
      "--counter <addr>",
      "address of the 32-bit little-endian page counter register (default: right after the ring)",
    )
    .option("--counter-wrap <n>", "value at which the page counter wraps to 0", "0x10000");
}

/**
 * Builds and validates the geometry from the flags' values.
 *
 * @example
 * ```ts
 * import { geometryFromFlags } from "./options.ts";
 * const g = geometryFromFlags({ base: "0x1000", pageSize: "4KiB", pages: "16", counterWrap: "0x100" });
 * console.log(g.ringBytes); // 65536
 * ```
 */
export function geometryFromFlags(flags: GeometryFlags): RingGeometry {
  return ringGeometry({
    base: parseAddress(flags.base, { option: "--base" }),
    pageSize: parseSize(flags.pageSize, { option: "--page-size" }),
    pages: parseInteger(flags.pages, { option: "--pages" }),
    counterAddress: flags.counter === undefined
      ? undefined
      : parseAddress(flags.counter, { option: "--counter" }),
    counterWrap: parseInteger(flags.counterWrap, { option: "--counter-wrap" }),
  });
}

/**
 * Parses an optional duration flag (ms), or undefined.
 *
 * @example
 * ```ts
 * import { durationFlag } from "./options.ts";
 * console.log(durationFlag("2s", "--duration")); // 2000
 * ```
 */
export function durationFlag(value: string | undefined, option: string): number | undefined {
  return value === undefined ? undefined : parseDuration(value, { option });
}

/**
 * Parses an optional size flag (bytes), or undefined.
 *
 * @example
 * ```ts
 * import { sizeFlag } from "./options.ts";
 * console.log(sizeFlag("8MiB", "--max-bytes")); // 8388608
 * ```
 */
export function sizeFlag(value: string | undefined, option: string): number | undefined {
  return value === undefined ? undefined : parseSize(value, { option });
}

/**
 * Commander's argument parser of a repeatable option: each value is appended
 * to the ones before.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { collect } from "./options.ts";
 * const cmd = new Command("x").option("--m <path>", "repeatable", collect, [] as string[]);
 * cmd.parse(["--m", "a", "--m", "b"], { from: "user" });
 * console.log(cmd.opts().m); // ["a", "b"]
 * ```
 */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Log levels accepted by `--log-level` (LogTape's, which cli/logging.ts loads
 * only when a command configures logging).
 *
 * @example
 * ```ts
 * import { LOG_LEVELS } from "./options.ts";
 * console.log(LOG_LEVELS.includes("debug")); // true
 * ```
 */
export const LOG_LEVELS: readonly LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];
