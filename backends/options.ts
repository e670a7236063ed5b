/**
 * Reading typed options out of a backend URL's query string, with errors that
 * name the option and the URL.
 *
 * @module
 */
import { UsageError } from "../lib/errors.ts";
import type { BackendOption } from "./types.ts";
import { parseAddress, parseDuration, parseInteger, parseRate, parseSize } from "../lib/units.ts";

/**
 * Typed access to a backend URL's query options. Unknown options are an
 * error, so a typo never goes unnoticed, and so is an option given twice
 * (`known_hosts=a&known_hosts=b`): no silent "the first one wins".
 *
 * @example
 * ```ts
 * import { UrlOptions } from "./options.ts";
 * const o = new UrlOptions(new URL("sim:?rate=8MiB&pattern=counter"), ["rate", "pattern"]);
 * console.log(o.size("rate", 0), o.string("pattern", "sine")); // 8388608 "counter"
 * ```
 */
export class UrlOptions {
  readonly #url: URL;
  /** Creates the reader; throws a UsageError for options not in `known`. */
  constructor(url: URL, known: readonly string[]) {
    this.#url = url;
    const seen = new Set<string>();
    for (const key of url.searchParams.keys()) {
      if (seen.has(key)) {
        throw new UsageError(
          `backend URL '${url.href}': option '${key}' is given more than once; give it once`,
          { option: key, value: url.href },
        );
      }
      seen.add(key);
      if (!known.includes(key)) {
        throw new UsageError(
          `backend URL '${url.href}': unknown option '${key}'; known: ${known.join(", ")}`,
          { option: key, value: url.href },
        );
      }
    }
  }
  #get(name: string): string | undefined {
    return this.#url.searchParams.get(name) ?? undefined;
  }
  /** A string option. */
  string(name: string, fallback: string): string {
    return this.#get(name) ?? fallback;
  }
  /** A string option that must be one of `choices`. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.#get(name);
    if (v === undefined) return fallback;
    if (!(choices as readonly string[]).includes(v)) {
      throw new UsageError(
        `backend URL option ${name}: '${v}' is not one of ${choices.join(", ")}`,
        { option: name, value: v },
      );
    }
    return v as T;
  }
  /** An address option (decimal or hex) as a bigint. */
  address(name: string, fallback: bigint): bigint {
    const v = this.#get(name);
    return v === undefined ? fallback : parseAddress(v, { option: `backend URL option ${name}` });
  }
  /** An integer option (decimal or hex). */
  integer(name: string, fallback: number): number {
    const v = this.#get(name);
    return v === undefined ? fallback : parseInteger(v, { option: `backend URL option ${name}` });
  }
  /** A number option (may have a fraction). */
  number(name: string, fallback: number): number {
    const v = this.#get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) {
      throw new UsageError(`backend URL option ${name}: '${v}' is not a number`, {
        option: name,
        value: v,
      });
    }
    return n;
  }
  /** A size option (`8MiB`, `0x1000`). */
  size(name: string, fallback: number): number {
    const v = this.#get(name);
    return v === undefined ? fallback : parseSize(v, { option: `backend URL option ${name}` });
  }
  /** A rate option in bytes per second (`4MiB`, `4MiB/s`). */
  rate(name: string, fallback: number): number {
    const v = this.#get(name);
    return v === undefined ? fallback : parseRate(v, { option: `backend URL option ${name}` });
  }
  /** A duration option in ms (`50ms`, `1s`). */
  duration(name: string, fallback: number): number {
    const v = this.#get(name);
    return v === undefined ? fallback : parseDuration(v, { option: `backend URL option ${name}` });
  }
}

const PLACEHOLDERS: Readonly<Record<BackendOption["type"], string>> = {
  path: "PATH",
  string: "TEXT",
  choice: "",
  address: "ADDR",
  integer: "N",
  duration: "DUR",
};

/**
 * The placeholder of an option's value in a URL form: its own, its choices
 * (`dd|pixeldump`), or its type's (`PATH`, `ADDR`, `N`, `DUR`).
 *
 * @example
 * ```ts
 * import { optionPlaceholder } from "./options.ts";
 * console.log(optionPlaceholder({ name: "via", type: "choice", choices: ["dd", "agent"], doc: "" })); // "dd|agent"
 * ```
 */
export function optionPlaceholder(option: BackendOption): string {
  return option.placeholder ??
    (option.type === "choice" ? (option.choices ?? []).join("|") : PLACEHOLDERS[option.type]);
}

/**
 * A backend's URL form: `prefix`, then every option as `[?name=VALUE&...]`.
 *
 * @example
 * ```ts
 * import { urlForm } from "./options.ts";
 * console.log(urlForm("devmem:[PATH]", [{ name: "origin", type: "address", doc: "" }]));
 * // "devmem:[PATH][?origin=ADDR]"
 * ```
 */
export function urlForm(prefix: string, options: readonly BackendOption[]): string {
  if (options.length === 0) return prefix;
  return `${prefix}[?${options.map((o) => `${o.name}=${optionPlaceholder(o)}`).join("&")}]`;
}
