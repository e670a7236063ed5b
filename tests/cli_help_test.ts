// cli/help.ts: the top-level help cli.ts prints without commander is commander's, byte for byte.
import assert from "node:assert/strict";
import { Help } from "commander";
import { COMMANDS, NO_COMMAND, PROGRAM_EPILOGUE, renderProgramHelp, VERSION } from "../cli/help.ts";
import { buildProgram } from "../cli/program.ts";
import { ringdump } from "../testing/run_cli.ts";

const ROOT = new URL("../", import.meta.url);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Widths to render at: a pipe's (80), narrow (no wrapping below 40 for the list), wide. */
const WIDTHS = [80, 40, 57, 66, 72, 100, 132, 20];

/** What commander itself would print for `ringdump --help` at `width` (its own formatter, the epilogue after). */
function commanderNative(width: number): string {
  const helper = new Help();
  helper.prepareContext({ helpWidth: width });
  return helper.formatHelp(buildProgram(), helper) + PROGRAM_EPILOGUE + "\n";
}

Deno.test("renderProgramHelp reproduces commander's layout of the command tree at every width", () => {
  for (const width of WIDTHS) {
    assert.equal(renderProgramHelp(width), commanderNative(width), `width ${width}`);
  }
  // The wrapping is exercised: the description wraps at 80, a summary wraps at 80 and not at 132.
  const at80 = renderProgramHelp(80).split("\n");
  assert.ok(at80.every((l) => l.length <= 80), at80.join("\n"));
  assert.ok(at80.includes("                           LTTng session's"), at80.join("\n"));
  assert.ok(!renderProgramHelp(132).includes("\n                           LTTng session's"));
  assert.equal(renderProgramHelp(), renderProgramHelp(80));
});

Deno.test("commander's top-level help is renderProgramHelp at the width of the stream", () => {
  for (const width of WIDTHS) {
    const program = buildProgram().configureOutput({
      getOutHelpWidth: () => width,
      getErrHelpWidth: () => width + 1,
    });
    assert.equal(program.helpInformation(), renderProgramHelp(width), `width ${width}`);
    assert.equal(
      program.helpInformation({ error: true }),
      renderProgramHelp(width + 1),
      `stderr width ${width + 1}`,
    );
  }
  // The subcommands keep commander's own help.
  const capture = buildProgram().commands.find((c) => c.name() === "capture")!;
  assert.match(capture.helpInformation(), /^Usage: ringdump capture \[options\]\n/);
});

Deno.test("the command table is the program's: names, order, arguments and summaries", () => {
  const program = buildProgram();
  const helper = new Help();
  assert.deepEqual(
    COMMANDS.map((c) => [c.name, c.args ? `${c.name} ${c.args}` : c.name, c.summary]),
    program.commands.map((c) => [c.name(), helper.subcommandTerm(c), c.summary()]),
  );
});

/** `deno eval` of commander's path (cli/program.ts's runProgram) with `args`, as cli.ts ran it before. */
async function viaCommander(args: string[]) {
  const program = new URL("cli/program.ts", ROOT).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--ext=ts",
      `import { runProgram } from ${
        JSON.stringify(program)
      }; Deno.exit(await runProgram(Deno.args));`,
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("ringdump --help, -h, help, no command, --version, -V: the same output and exit codes as commander's", async () => {
  const help = renderProgramHelp(80); // stdout and stderr are pipes here
  const cases: [string[], { code: number; stdout: string; stderr: string }][] = [
    [["--help"], { code: 0, stdout: help, stderr: "" }],
    [["-h"], { code: 0, stdout: help, stderr: "" }],
    [["help"], { code: 0, stdout: help, stderr: "" }],
    [[], { code: 2, stdout: "", stderr: `${help}${NO_COMMAND}\n` }],
    [["--version"], { code: 0, stdout: `${VERSION}\n`, stderr: "" }],
    [["-V"], { code: 0, stdout: `${VERSION}\n`, stderr: "" }],
  ];
  for (const [args, expected] of cases) {
    const [fast, commander] = await Promise.all([ringdump(args), viaCommander(args)]);
    const got = { code: fast.code, stdout: text(fast.stdout), stderr: fast.stderr };
    assert.deepEqual(got, expected, `ringdump ${args.join(" ")}`);
    assert.deepEqual(commander, expected, `commander: ringdump ${args.join(" ")}`);
  }
  // Anything else still goes through commander: a command's help, help for a command, errors.
  const captureHelp = await ringdump(["help", "capture"]);
  assert.equal(captureHelp.code, 0);
  assert.match(text(captureHelp.stdout), /^Usage: ringdump capture \[options\]\n/);
  // (commander reads `--help capture` as the top-level help: the same text through it)
  const topViaCommander = await ringdump(["--help", "capture"]);
  assert.equal(topViaCommander.code, 0);
  assert.equal(text(topViaCommander.stdout), help);
  const bogus = await ringdump(["bogus"]);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /unknown command 'bogus'/);
});
