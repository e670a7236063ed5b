/**
 * Library errors in the CLI's words. A {@linkcode UsageError} from the
 * library names the option it is about by its library name (`period`,
 * `maxBytes`, `backend`, ...) and starts its message with it; only the CLI
 * knows which flag sets that option, so it writes the flag instead.
 *
 * @module
 */
import { errorMessage, UsageError } from "../lib/errors.ts";

/** Library option names and the flags that set them. */
const FLAGS: Readonly<Record<string, string>> = {
  backend: "--backend",
  backendModule: "--backend-module",
  duration: "--duration",
  image: "--image",
  maxBytes: "--max-bytes",
  origin: "--origin",
  overrun: "--overrun",
  period: "--period",
  minPeriod: "--min-period",
};

/**
 * The flag that sets a library option, e.g. `--max-bytes` for `maxBytes`;
 * `undefined` for an option no flag sets.
 *
 * @example
 * ```ts
 * import { flagFor } from "./errors.ts";
 * console.log(flagFor("maxBytes"), flagFor("rate=")); // "--max-bytes" undefined
 * ```
 */
export function flagFor(option: string): string | undefined {
  return Object.hasOwn(FLAGS, option) ? FLAGS[option] : undefined;
}

/**
 * The message of anything thrown, as the CLI prints it: a usage error whose
 * message starts with its library option name gets the flag's name there.
 *
 * @example
 * ```ts
 * import { UsageError } from "../lib/errors.ts";
 * import { cliMessage } from "./errors.ts";
 * const e = new UsageError("period must be greater than 0 (got 0 ms)", { option: "period" });
 * console.log(cliMessage(e)); // "--period must be greater than 0 (got 0 ms)"
 * ```
 */
export function cliMessage(e: unknown): string {
  const message = errorMessage(e);
  if (!(e instanceof UsageError) || e.option === undefined) return message;
  const flag = flagFor(e.option);
  if (flag === undefined || !message.startsWith(e.option)) return message;
  const rest = message.slice(e.option.length);
  return /^[ :]/.test(rest) ? flag + rest : message;
}
