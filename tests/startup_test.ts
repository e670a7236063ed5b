import assert from "node:assert/strict";
import { buildProgram } from "../cli/program.ts";
import { TRACE_FORMATS } from "../lib/trace/mod.ts";

const ROOT = new URL("../", import.meta.url);

/** The modules `deno run ENTRY` evaluates before anything runs: the static import closure. */
async function staticClosure(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
    packages?: Record<string, string>;
  };
  const byName = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of byName.get(s)?.dependencies ?? []) {
      // deno info marks dynamic imports with isDynamic on the dependency.
      if (d.code && !(d as { isDynamic?: boolean }).isDynamic) todo.push(d.code.specifier);
    }
  }
  return [...seen].map((s) => s.replace(ROOT.href, ""));
}

Deno.test("ringdump --help loads cli/help.ts only: no commander, no npm: or node: module, no command", async () => {
  const loaded = await staticClosure("cli.ts");
  assert.deepEqual(loaded.sort(), ["cli.ts", "cli/help.ts", "deno.json"]);
});

Deno.test("a command loads commander and the command definitions, not the backends, dumper, LogTape, dax or tracing", async () => {
  const loaded = await staticClosure("cli/program.ts");
  assert.ok(loaded.includes("cli/capture.ts"), loaded.join(" "));
  assert.ok(loaded.some((s) => s.startsWith("npm:commander")), loaded.join(" "));
  for (
    const heavy of [
      /^backends\/(?!options\.ts$|types\.ts$)/, // URL option parsing is light
      /^lib\/dumper\.ts$/,
      /^lib\/trace/,
      /^lib\/agent\/(server|client)/,
      /dax/,
      /logtape/,
      /^lib\/controls/,
    ]
  ) {
    const hit = loaded.filter((s) => heavy.test(s));
    assert.deepEqual(hit, [], `${heavy} is loaded by every command: ${hit.join(", ")}`);
  }
});

Deno.test("trace --format offers exactly lib/trace's formats (cli/trace.ts does not load it for the other commands)", () => {
  const trace = buildProgram().commands.find((c) => c.name() === "trace")!;
  for (const sub of trace.commands) {
    const format = sub.options.find((o) => o.long === "--format");
    assert.deepEqual(format?.argChoices, [...TRACE_FORMATS], sub.name());
  }
});
