/**
 * `ringdump backends`: every backend scheme, what it needs, and whether it is
 * usable on this machine right now.
 *
 * @module
 */
import type { Command } from "commander";
import { commandSummary } from "./help.ts";
import { optionPlaceholder } from "../backends/options.ts";
import type { BackendOption } from "../backends/types.ts";
import { collect } from "./options.ts";
import { errorMessage } from "../lib/errors.ts";

/** One row of `ringdump backends`. */
export interface BackendReport {
  /** URL scheme, e.g. `devmem`. */
  readonly scheme: string;
  /** One-line description. */
  readonly description: string;
  /** URL form with its options. */
  readonly usage: string;
  /** What it needs. */
  readonly needs: string;
  /** Its URL options, when it declares them. */
  readonly options?: readonly BackendOption[];
  /** Whether it can be used here right now. */
  readonly usable: boolean;
  /** What the probe found. */
  readonly detail: string;
}

/**
 * Probes every registered backend (in parallel) and reports what it found.
 *
 * @example
 * ```ts
 * import { backendReports } from "./backends.ts";
 * const reports = await backendReports();
 * console.log(reports.find((r) => r.scheme === "sim")?.usable); // true
 * ```
 */
export async function backendReports(): Promise<BackendReport[]> {
  // Loaded when the command runs, so `ringdump --help` does not load every backend.
  const { listBackends } = await import("../backends/mod.ts");
  return await Promise.all(
    listBackends().map(async (f) => {
      let usable = false;
      let detail: string;
      try {
        ({ usable, detail } = await f.probe());
      } catch (e) {
        detail = `probe failed: ${errorMessage(e)}`;
      }
      return {
        scheme: f.scheme,
        description: f.description,
        usage: f.usage,
        needs: f.needs,
        options: f.options,
        usable,
        detail,
      };
    }),
  );
}

/**
 * Formats reports as `ringdump backends` prints them.
 *
 * @example
 * ```ts
 * import { formatBackendReports } from "./backends.ts";
 * console.log(formatBackendReports([
 *   { scheme: "sim", description: "simulated", usage: "sim:", needs: "nothing", usable: true, detail: "built in" },
 * ]));
 * ```
 */
export function formatBackendReports(reports: readonly BackendReport[]): string {
  const width = Math.max(...reports.map((r) => r.scheme.length + 1), 7) + 2;
  const pad = " ".repeat(width);
  return reports.map((r) =>
    [
      `${(r.scheme + ":").padEnd(width)}${r.description}`,
      `${pad}url:    ${r.usage}`,
      ...(r.options ?? []).map((o) =>
        `${pad}        ${o.name}=${optionPlaceholder(o)}: ${o.doc}` +
        (o.default === undefined ? "" : ` (default ${o.default})`)
      ),
      `${pad}needs:  ${r.needs}`,
      `${pad}here:   ${r.usable ? "usable" : "NOT usable"}: ${r.detail}`,
    ].join("\n")
  ).join("\n");
}

/**
 * Adds `ringdump backends` to a commander program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addBackendsCommand } from "./backends.ts";
 * const program = new Command("ringdump");
 * addBackendsCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["backends"]
 * ```
 */
export function addBackendsCommand(program: Command): Command {
  return program
    .command("backends")
    .summary(commandSummary("backends"))
    .description(
      "List every backend scheme: what it reads, its URL form with its options, what it " +
        "needs, and whether it is usable on this machine now (each backend probes for what " +
        "it needs).",
    )
    .option("--json", "print the list as JSON", false)
    .option(
      "--backend-module <path>",
      "load a backend plugin module first (repeatable)",
      collect,
      [] as string[],
    )
    .addHelpText(
      "after",
      `
Examples:
  ringdump backends
  # the schemes usable here, one a line
  ringdump backends --json | jq -r '.[] | select(.usable) | .scheme'
  # a plugin's scheme listed with the built-in ones
  ringdump backends --backend-module ./my_backend.ts`,
    )
    .action(async (flags: { json: boolean; backendModule: string[] }) => {
      const { loadBackendModule } = await import("../backends/mod.ts");
      for (const path of flags.backendModule) await loadBackendModule(path);
      const reports = await backendReports();
      console.log(
        flags.json ? JSON.stringify(reports, null, 2) : formatBackendReports(reports),
      );
    });
}
