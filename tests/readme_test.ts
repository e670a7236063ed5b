/**
 * Every README code block that is meant to work, run as written: `sh`
 * blocks through bash with `ringdump` (and `deno task ringdump`) being this
 * checkout's CLI, `ts` blocks through `deno run --check` with the permissions
 * the Library section names. Blocks marked `ignore` (a board, a download) are
 * not run. In a block of `$ command` lines, each command's output must match
 * the lines shown up to the numbers (times and counts vary from run to run).
 *
 * All blocks run in order in one temporary directory (later blocks read what
 * earlier ones wrote, as a reader following along would); the only rewrite
 * is the image path /dev/shm/ring.img, made unique so that parallel runs on
 * one machine do not share a ring. Afterwards the repository root must hold
 * no output of theirs.
 */
import assert from "node:assert/strict";
import { RINGDUMP_ARGS } from "../testing/run_cli.ts";
import { ignoreUnless, missingTools, requireTools, type ToolName } from "../testing/tools.ts";
import { fillCounter } from "../lib/sim/pattern.ts";

const root = new URL("../", import.meta.url).pathname;
const readme = await Deno.readTextFile(`${root}README.md`);

/** A fenced block of the README. */
interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word (`sh`, `ts`, ...). */
  lang: string;
  /** Whether the info string says `ignore`. */
  ignore: boolean;
  /** The block's text. */
  body: string;
}

/** The README's fenced blocks, in order. */
function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!m) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    out.push({
      line: start + 1,
      lang: m[1],
      ignore: /\bignore\b/.test(m[2]),
      body: body.join("\n"),
    });
  }
  return out;
}

/** Joins `\`-continued lines: the shell's logical lines. */
function logicalLines(body: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const line of body.split("\n")) {
    if (line.endsWith("\\")) {
      cur += line.slice(0, -1) + " ";
      continue;
    }
    out.push(cur + line);
    cur = "";
  }
  if (cur !== "") out.push(cur);
  return out;
}

/** Output compared up to the numbers, their units and the spacing. */
function shape(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .replace(/\b0x[0-9a-f]+\b/gi, "N")
    .replace(/\d+(\.\d+)?/g, "N")
    .replace(/\bN (B|KiB|MiB|GiB)\b/g, "N U")
    .replace(/[ \t]+/g, " ")
    .trim();
}

/** System tools a command line uses that a bare machine may lack. */
function toolsOf(command: string): ToolName[] {
  const tools: ToolName[] = [];
  if (/\bbabeltrace2\b/.test(command)) tools.push("babeltrace2");
  if (/\bjq\b/.test(command)) tools.push("jq");
  return tools;
}

const work = await Deno.makeTempDir({ prefix: "ringdump-readme-" });
const shm = new TextDecoder().decode(
  (await new Deno.Command("mktemp", { args: ["-d", "/dev/shm/ringdump-readme-XXXXXX"] }).output())
    .stdout,
).trim();
const bin = `${work}/.bin`;
await Deno.mkdir(bin);
// `ringdump` is this checkout's CLI, with the task's permissions (what the binary gets).
await Deno.writeTextFile(
  `${bin}/ringdump`,
  `#!/bin/sh\nexec ${[Deno.execPath(), ...RINGDUMP_ARGS].map((a) => `'${a}'`).join(" ")} "$@"\n`,
  { mode: 0o755 },
);
// The fixture the verify example reads: two pages with a page missing between them.
const gappy = new Uint8Array(8192);
fillCounter(gappy.subarray(0, 4096), 0);
fillCounter(gappy.subarray(4096), 8192);
await Deno.writeFile(`${work}/gappy.bin`, gappy);
const rootBefore = new Set([...Deno.readDirSync(root)].map((e) => e.name));
addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
  new Deno.Command("rm", { args: ["-rf", shm] }).outputSync();
});

/** `deno task X` as the reader types it, from the work directory: the repository's tasks. */
const PRELUDE =
  `deno() { if [ "$1" = task ]; then shift; command deno task -q --config '${root}deno.json' "$@"; ` +
  `else command deno "$@"; fi; }\n`;

async function bash(script: string): Promise<{ code: number; output: string }> {
  const r = await new Deno.Command("bash", {
    args: ["-c", PRELUDE + script],
    cwd: work,
    env: {
      NO_COLOR: "1",
      PATH: `${bin}:${Deno.execPath().replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH")}`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, output: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

const localize = (s: string) => s.replaceAll("/dev/shm/ring.img", `${shm}/ring.img`);

/** Skips (records) or, under CI, fails a command whose tools are missing; true to run it. */
async function canRun(command: string): Promise<boolean> {
  const tools = toolsOf(command);
  if (tools.length === 0) return true;
  const missing = await missingTools(tools);
  if (ignoreUnless(missing)) return false;
  requireTools(missing);
  return true;
}

/** A block of `$ command` lines with the output each prints. */
async function runTranscript(body: string): Promise<void> {
  const steps: { command: string; expected: string[] }[] = [];
  for (const line of logicalLines(body)) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  for (const { command, expected } of steps) {
    if (!await canRun(command)) continue;
    const r = await bash(localize(command));
    const got = r.output.trimEnd().split("\n").map(shape);
    assert.deepEqual(got, expected.map(shape), `'${command}' printed:\n${r.output}`);
  }
}

/** A plain block: every command must succeed; background jobs are stopped at the end. */
async function runScript(body: string): Promise<void> {
  const lines = logicalLines(body).filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  let script = "";
  for (const line of lines) {
    if (!await canRun(line)) continue;
    script += `${localize(line)}\n__rc=$?; if [ $__rc -ne 0 ]; then echo "README command failed ` +
      `with $__rc: ${line.replaceAll("'", "").replaceAll('"', "").replaceAll("$", "")}" >&2; ` +
      `kill $(jobs -p) 2>/dev/null; exit $__rc; fi\n`;
  }
  script += "kill $(jobs -p) 2>/dev/null; wait; exit 0\n";
  const r = await bash(script);
  assert.equal(r.code, 0, r.output);
}

const TS_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

async function deno(args: string[]): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: work,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

/** Writes the `ts` blocks as scripts importing this checkout's mod.ts; type-checks them at once. */
async function prepareTs(tsBlocks: Block[]): Promise<void> {
  for (const b of tsBlocks) {
    await Deno.writeTextFile(
      `${work}/readme_${b.line}.ts`,
      b.body.replaceAll('"./mod.ts"', `"${root}mod.ts"`),
    );
  }
  if (tsBlocks.length === 0) return;
  const c = await deno([
    "check",
    `--config=${root}deno.json`,
    ...tsBlocks.map((b) => `${work}/readme_${b.line}.ts`),
  ]);
  assert.equal(c.code, 0, c.stderr);
}

/** A `ts` block, run with the permissions the Library section names. */
async function runTs(line: number): Promise<void> {
  const r = await deno([
    "run",
    "--no-check",
    ...TS_PERMISSIONS,
    `--config=${root}deno.json`,
    `${work}/readme_${line}.ts`,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test("README: every code block not marked ignore runs as written", async (t) => {
  const runnable = blocks(readme).filter((b) => !b.ignore && (b.lang === "sh" || b.lang === "ts"));
  assert.ok(runnable.length >= 8, `only ${runnable.length} runnable blocks`);
  await t.step(
    "the ts blocks type-check",
    () => prepareTs(runnable.filter((b) => b.lang === "ts")),
  );
  for (const b of runnable) {
    await t.step(`README.md:${b.line} (${b.lang})`, async () => {
      if (b.lang === "ts") await runTs(b.line);
      else if (/^\$ /m.test(b.body)) await runTranscript(b.body);
      else await runScript(b.body);
    });
  }
  // The examples wrote into the directory they ran in, never into the repository.
  const stray = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !rootBefore.has(n));
  assert.deepEqual(stray, [], "outputs left in the repository root");
});
