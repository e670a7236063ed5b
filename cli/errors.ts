/**
 * Library errors in the CLI's words. The library names options by their
 * library names (`period`, `maxBytes`, `out`, ...): a {@linkcode UsageError}
 * carries the option and starts its message with it, and a hint in any
 * message says "the NAME option". Only the CLI knows which flag sets an
 * option, so it writes the flag there instead; an {@linkcode OutputError}
 * starts with its output, which `--out` names.
 *
 * @module
 */
import { errorMessage, OutputError, UsageError } from "../lib/errors.ts";

/**
 * Library option names, the flags that set them, and, where the message
 * does not start with the option's own name, the words it starts with.
 */
const FLAGS: Readonly<Record<string, { flag: string; lead?: string }>> = {
  append: { flag: "--append" },
  backend: { flag: "--backend" },
  backendModule: { flag: "--backend-module" },
  bits: { flag: "--bits" },
  channels: { flag: "--channels" },
  duration: { flag: "--duration" },
  force: { flag: "--force" },
  format: { flag: "--format" },
  image: { flag: "--image" },
  inFlight: { flag: "--in-flight" },
  maxBytes: { flag: "--max-bytes" },
  minPeriod: { flag: "--min-period" },
  origin: { flag: "--origin" },
  out: { flag: "--out" },
  overrun: { flag: "--overrun" },
  period: { flag: "--period" },
  sampleRate: { flag: "--sample-rate", lead: "WAV sample rate" },
  trace: { flag: "--trace" },
  traceFormat: { flag: "--trace-format", lead: "trace format" },
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
  return Object.hasOwn(FLAGS, option) ? FLAGS[option].flag : undefined;
}

/** `message` with its leading library words for `option` replaced by the flag. */
function leadToFlag(message: string, option: string): string {
  if (!Object.hasOwn(FLAGS, option)) return message;
  const { flag, lead = option } = FLAGS[option];
  if (!message.startsWith(lead)) return message;
  const rest = message.slice(lead.length);
  return /^[ :]/.test(rest) ? flag + rest : message;
}

/**
 * The message of anything thrown, as the CLI prints it: a usage error whose
 * message starts with its library option gets the flag's name there, an
 * output error names `--out`, and "the NAME option" in a hint becomes the
 * flag.
 *
 * @example
 * ```ts
 * import { UsageError } from "../lib/errors.ts";
 * import { cliMessage } from "./errors.ts";
 * const e = new UsageError("period must be greater than 0 (got 0 ms)", { option: "period" });
 * console.log(cliMessage(e)); // "--period must be greater than 0 (got 0 ms)"
 * const f = new UsageError("image x: not an image; give a new path, or the force option", {
 *   option: "image",
 * });
 * console.log(cliMessage(f)); // "--image x: not an image; give a new path, or --force"
 * ```
 */
export function cliMessage(e: unknown): string {
  let message = errorMessage(e);
  if (e instanceof UsageError && e.option !== undefined) {
    message = leadToFlag(message, e.option);
  } else if (e instanceof OutputError && message.startsWith(`${e.output}:`)) {
    const rest = message.slice(e.output.length);
    message = (e.output === "stdout" ? "--out - (stdout)" : `--out ${e.output}`) + rest;
  }
  return message.replace(
    /\bthe ([a-zA-Z]+) option\b/g,
    (all, name: string) => flagFor(name) ?? all,
  );
}
