/**
 * Test helper: the system tools some tests need (sshd, busybox, g++,
 * libcamera-dev, lttng, qemu, babeltrace2, python3, python3-bt2, jq), found the same way
 * for every test, and the one rule for a missing one: without `CI` the test is
 * skipped with its reason (and the skip is recorded for the run's summary
 * line, see tools/test.ts); with `CI` set it is never skipped and fails on
 * {@linkcode requireTools}.
 *
 * `RINGDUMP_TEST_HIDE_TOOLS=all` (or a comma list of tool names) makes the
 * lookup report those tools missing, to check what a machine with only
 * Node/npm sees.
 *
 * @module
 */

/** The tools the tests can ask for. */
export type ToolName =
  | "sshd"
  | "ssh"
  | "busybox"
  | "g++"
  | "libcamera-dev"
  | "lttng"
  | "lttng-ust"
  | "qemu-aarch64"
  | "babeltrace2"
  | "python3"
  | "python3-bt2"
  | "jq";

/** How a tool is found and which Debian packages provide it. */
export interface ToolSpec {
  /** Debian packages that install it (`apt-get install ...`). */
  readonly packages: readonly string[];
  /** Why it is missing, or undefined when it is there. */
  probe(): Promise<string | undefined>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `program` is on PATH, or undefined (a path with a `/` is taken as it is).
 *
 * @example
 * ```ts
 * import { findProgram } from "./tools.ts";
 * console.log(typeof (await findProgram("sh"))); // "string"
 * ```
 */
export async function findProgram(program: string): Promise<string | undefined> {
  if (program.includes("/")) return await exists(program) ? program : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "" && await exists(`${dir}/${program}`)) return `${dir}/${program}`;
  }
  return undefined;
}

async function runs(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null", stdin: "null" })
      .output();
    return r.code === 0;
  } catch {
    return false;
  }
}

/**
 * A Python that imports bt2: the system's first (python3-bt2 installs for it;
 * a pyenv or venv python3 earlier on PATH usually lacks it), else PATH's.
 *
 * @example
 * ```ts
 * import { pythonWithBt2 } from "./tools.ts";
 * const python = await pythonWithBt2();
 * console.log(python === undefined || python.endsWith("python3")); // true
 * ```
 */
export async function pythonWithBt2(): Promise<string | undefined> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    if (await runs(python, ["-c", "import bt2"])) return python;
  }
  return undefined;
}

/** What a test says when {@linkcode findCxx} finds no compiler. */
export const NO_CXX = "no C++ compiler (g++, c++, clang++ or $CXX) found";

/**
 * The first C++ compiler that runs (`--version`): $CXX, g++, c++, clang++;
 * undefined when none does.
 *
 * @example
 * ```ts
 * import { findCxx } from "./tools.ts";
 * const cxx = await findCxx();
 * console.log(cxx === undefined || cxx.length > 0); // true
 * ```
 */
export async function findCxx(): Promise<string | undefined> {
  for (const cxx of [Deno.env.get("CXX"), "g++", "c++", "clang++"]) {
    if (cxx && await runs(cxx, ["--version"])) return cxx;
  }
  return undefined;
}

const program = (name: string, packages: string[]): ToolSpec => ({
  packages,
  probe: async () => await findProgram(name) ? undefined : `${name} is not on PATH`,
});
const file = (path: string, packages: string[]): ToolSpec => ({
  packages,
  probe: async () => await exists(path) ? undefined : `${path} is missing`,
});

/** Every tool the tests use, with its probe and its packages. */
export const TOOLS: Readonly<Record<ToolName, ToolSpec>> = {
  sshd: file("/usr/sbin/sshd", ["openssh-server"]),
  ssh: {
    packages: ["openssh-client"],
    async probe() {
      for (const p of ["ssh", "ssh-keygen"]) {
        if (!await findProgram(p)) return `${p} is not on PATH`;
      }
      return undefined;
    },
  },
  busybox: file("/usr/bin/busybox", ["busybox"]),
  "g++": {
    packages: ["g++"],
    probe: async () => await findCxx() ? undefined : NO_CXX,
  },
  "libcamera-dev": file("/usr/include/libcamera/libcamera/ipa/ipa_controls.h", ["libcamera-dev"]),
  lttng: program("lttng", ["lttng-tools"]),
  "lttng-ust": file("/usr/include/lttng/tracepoint.h", ["liblttng-ust-dev"]),
  "qemu-aarch64": {
    packages: ["qemu-user-static", "libc6:arm64"],
    async probe() {
      if (!await findProgram("qemu-aarch64-static")) return "qemu-aarch64-static is not on PATH";
      if (!await exists("/lib/ld-linux-aarch64.so.1")) return "the arm64 libc is missing";
      return undefined;
    },
  },
  babeltrace2: program("babeltrace2", ["babeltrace2"]),
  python3: program("python3", ["python3"]),
  jq: program("jq", ["jq"]),
  "python3-bt2": {
    packages: ["python3-bt2"],
    probe: async () => await pythonWithBt2() ? undefined : "no python3 here imports bt2",
  },
};

function hidden(name: ToolName): boolean {
  const hide = (Deno.env.get("RINGDUMP_TEST_HIDE_TOOLS") ?? "").split(",").map((s) => s.trim());
  return hide.includes("all") || hide.includes(name);
}

/** The packages that install `names`, in order, without duplicates. */
export function packagesFor(names: readonly ToolName[]): string[] {
  return [...new Set(names.flatMap((n) => TOOLS[n].packages))];
}

/**
 * Why the tools `names` cannot be used here, or undefined when all are there.
 * The reason names each missing tool and ends with the `apt-get install ...`
 * that provides them.
 *
 * @example
 * ```ts
 * import { missingTools } from "./tools.ts";
 * const missing = await missingTools(["busybox"]);
 * console.log(missing === undefined || missing.includes("apt-get install busybox")); // true
 * ```
 */
export async function missingTools(names: readonly ToolName[]): Promise<string | undefined> {
  const gone: ToolName[] = [];
  const why: string[] = [];
  for (const name of names) {
    const problem = hidden(name) ? "hidden by RINGDUMP_TEST_HIDE_TOOLS" : await TOOLS[name].probe();
    if (problem !== undefined) {
      gone.push(name);
      why.push(`${name} (${problem})`);
    }
  }
  if (gone.length === 0) return undefined;
  return `needs ${why.join(", ")}: apt-get install ${packagesFor(gone).join(" ")}`;
}

/** The file the skips of this run are appended to (set by tools/test.ts), if any. */
export const SKIP_LOG_ENV = "RINGDUMP_TEST_SKIP_LOG";

/** One recorded skip. */
export interface SkipRecord {
  /** The test module that skipped. */
  readonly module: string;
  /** The reason, as {@linkcode missingTools} gave it. */
  readonly reason: string;
}

function callerModule(): string {
  const stack = new Error().stack ?? "";
  for (const m of stack.matchAll(/(file:\/\/[^\s)]+?):\d+:\d+/g)) {
    if (!m[1].endsWith("/testing/tools.ts") && !m[1].endsWith("/testing/sshd.ts")) {
      const path = new URL(m[1]).pathname;
      const i = path.lastIndexOf("/tests/");
      return i >= 0 ? path.slice(i + 1) : path;
    }
  }
  return "?";
}

/**
 * `ignore` for tests that need tools: true (skip, with the reason on stderr
 * and in the run's skip log) when `missing` is set and CI is not; false
 * otherwise, so under CI the test runs and fails on {@linkcode requireTools}.
 *
 * @example
 * ```ts
 * import { ignoreUnless } from "./tools.ts";
 * console.log(ignoreUnless(undefined)); // false
 * ```
 */
export function ignoreUnless(missing: string | undefined): boolean {
  if (missing === undefined) return false;
  if (Deno.env.get("CI")) return false;
  const module = callerModule();
  console.warn(`skipping ${module}: ${missing}`);
  const log = Deno.env.get(SKIP_LOG_ENV);
  if (log) {
    const record: SkipRecord = { module, reason: missing };
    Deno.writeTextFileSync(log, JSON.stringify(record) + "\n", { append: true });
  }
  return true;
}

/**
 * Throws (failing the test) when a tool is missing; the first line of a test
 * guarded by {@linkcode ignoreUnless}.
 *
 * @example
 * ```ts
 * import { requireTools } from "./tools.ts";
 * requireTools(undefined); // all there: nothing happens
 * ```
 */
export function requireTools(missing: string | undefined): void {
  if (missing !== undefined) throw new Error(`required tool missing under CI: ${missing}`);
}

/**
 * The summary line of a run's skips: what was skipped and the one
 * `apt-get install ...` that enables all of it; undefined when nothing was.
 *
 * @example
 * ```ts
 * import { skipSummary } from "./tools.ts";
 * const line = skipSummary([
 *   { module: "tests/ssh_test.ts", reason: "needs sshd (x): apt-get install openssh-server" },
 *   { module: "tests/b_test.ts", reason: "needs busybox (y): apt-get install busybox" },
 * ]);
 * console.log(line?.endsWith("apt-get install openssh-server busybox")); // true
 * ```
 */
export function skipSummary(records: readonly SkipRecord[]): string | undefined {
  if (records.length === 0) return undefined;
  const modules = [...new Set(records.map((r) => r.module))];
  const packages = new Set<string>();
  const needs = new Set<string>();
  for (const r of records) {
    // Every `apt-get install ...` the reason names (others' probes write their own reasons).
    for (const apt of r.reason.matchAll(/apt-get install ([^);\n]+)/g)) {
      for (const p of apt[1].trim().split(/\s+/)) if (!p.startsWith("-")) packages.add(p);
    }
    const m = /^needs (.*?):? apt-get install/.exec(r.reason);
    for (const t of m ? m[1].split(/, (?![^(]*\))/) : [r.reason]) {
      needs.add(t.replace(/ \(.*\)$/, ""));
    }
  }
  return `skipped tests in ${modules.join(", ")} (missing: ${[...needs].join(", ")}); ` +
    `to run them: apt-get install ${[...packages].join(" ")}`;
}
