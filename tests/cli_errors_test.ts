// cli/errors.ts: library errors name library options; the CLI writes the flags.
import assert from "node:assert/strict";
import { cliMessage, flagFor } from "../cli/errors.ts";
import { errorMessage, OutputClosedError, OutputError, UsageError } from "../lib/errors.ts";
import { checkSink } from "../lib/sink/mod.ts";
import { validateWav } from "../lib/sink/wav.ts";
import { openOutputError, outputError } from "../lib/sink/output_error.ts";
import { openError } from "../lib/trace/io.ts";
import { traceFormatFor } from "../lib/trace/writer.ts";
import { checkDumperOptions } from "../lib/dumper_options.ts";
import { ringGeometry } from "../lib/ring.ts";

/** The library's message and the CLI's for what `f` throws. */
function both(f: () => unknown): { lib: string; cli: string; error: unknown } {
  try {
    f();
  } catch (error) {
    return { lib: errorMessage(error), cli: cliMessage(error), error };
  }
  throw new Error("expected a throw");
}

const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });

Deno.test("cli errors: library usage errors name the library option, the CLI the flag", () => {
  const cases: [() => unknown, string, RegExp, RegExp][] = [
    [() => validateWav({ bits: 12 }), "bits", /^bits: 12 /, /^--bits: 12 is not one of/],
    [() => validateWav({ channels: 0 }), "channels", /^channels: 0 /, /^--channels: 0 is not/],
    [
      () => validateWav({ rate: 0 }),
      "sampleRate",
      /^WAV sample rate 0 is not valid/,
      /^--sample-rate 0 is not valid: give a whole number of Hz/,
    ],
    [
      () => checkSink("x.wav", { append: true }),
      "append",
      /^append works/,
      /^--append works only with the raw format$/,
    ],
    [
      () => checkSink("-", { format: "wav" }),
      "format",
      /^format wav /,
      /^--format wav cannot go to stdout/,
    ],
    [
      () => traceFormatFor("t", "xml"),
      "traceFormat",
      /^trace format 'xml' is unknown/,
      /^--trace-format 'xml' is unknown; use json or ctf$/,
    ],
    [
      () => checkDumperOptions({ geometry, period: 10, inFlight: 99 }),
      "inFlight",
      /^inFlight must be a whole number of pages from 0 to 15/,
      /^--in-flight must be a whole number of pages from 0 to 15/,
    ],
    [
      () => checkDumperOptions({ geometry, period: 0 }),
      "period",
      /^period must be greater than 0/,
      /^--period must be greater than 0/,
    ],
  ];
  for (const [f, option, lib, cli] of cases) {
    const r = both(f);
    assert.ok(r.error instanceof UsageError, String(r.error));
    assert.equal(r.error.option, option);
    assert.match(r.lib, lib);
    assert.doesNotMatch(r.lib, /--[a-z]/, "a library message writes no flag");
    assert.match(r.cli, cli);
  }
});

Deno.test("cli errors: output open errors, the trace path, and hints that name an option", () => {
  const dev = openOutputError(new Deno.errors.NotCapable("no"), "/dev/sda");
  assert.equal(dev.option, "out");
  assert.doesNotMatch(dev.message, /--/);
  assert.match(dev.message, /^out: '\/dev\/sda' is a device/);
  assert.match(
    cliMessage(dev),
    /^--out: '\/dev\/sda' is a device .*or to stdout \(--out -\) and redirect it there$/,
  );
  // /dev/shm holds regular files, but Deno refuses every path under /dev without --allow-all.
  const shm = openOutputError(new Deno.errors.NotCapable("no"), "/dev/shm/c.bin");
  assert.match(
    cliMessage(shm),
    /^--out: '\/dev\/shm\/c.bin' is under \/dev, which Deno opens only with --allow-all, even for \/dev\/shm's regular files; write to \/tmp or another directory, or to stdout \(--out -\) and redirect it there$/,
  );
  assert.match(
    cliMessage(openError("/dev/shm/t.json", new Deno.errors.NotCapable("no"))),
    /^--trace: cannot write '\/dev\/shm\/t.json': ringdump does not open devices .*write to \/tmp or another directory$/,
  );
  const missing = openOutputError(new Deno.errors.NotFound("no"), "/no/c.bin");
  assert.match(
    cliMessage(missing),
    /^--out: cannot create '\/no\/c.bin': its directory does not exist/,
  );
  const trace = openError("/no/t.json", new Deno.errors.NotFound("no"));
  assert.equal(trace.option, "trace");
  assert.match(trace.message, /^trace: cannot write/);
  assert.match(
    cliMessage(trace),
    /^--trace: cannot write '\/no\/t.json': its directory does not exist$/,
  );
});

Deno.test("cli errors: an output error starts with its output; the CLI says --out", () => {
  const full = outputError(Object.assign(new Error("No space"), { code: "ENOSPC" }), {
    output: "c.bin",
    bytes: 8,
  });
  assert.ok(full instanceof OutputError);
  assert.match(
    full.message,
    /^c\.bin: the disk is full \(ENOSPC\); the 8 bytes written before it are kept/,
  );
  assert.match(cliMessage(full), /^--out c\.bin: the disk is full \(ENOSPC\)/);
  const pipe = outputError(new Deno.errors.BrokenPipe("gone"), { output: "stdout", bytes: 4096 });
  assert.ok(pipe instanceof OutputClosedError);
  assert.match(pipe.message, /^stdout: the reader closed the pipe after 4096 bytes/);
  assert.match(
    cliMessage(pipe),
    /^--out - \(stdout\): the reader closed the pipe after 4096 bytes/,
  );
});

Deno.test("cli errors: what no flag sets is left as it is", () => {
  assert.equal(flagFor("maxBytes"), "--max-bytes");
  assert.equal(flagFor("toString"), undefined);
  assert.equal(flagFor("rate"), undefined, "rate= in a sim URL is not capture's --sample-rate");
  const sim = new UsageError("sim: rate must be a positive number of bytes per second", {
    option: "rate",
  });
  assert.equal(cliMessage(sim), sim.message);
  const odd = new UsageError("periodic trouble", { option: "period" });
  assert.equal(cliMessage(odd), "periodic trouble", "only a whole leading word is replaced");
  assert.equal(cliMessage(new Error("the hidden option is on")), "the hidden option is on");
  assert.equal(cliMessage("a string"), "a string");
  assert.equal(cliMessage(new Error("or the force option")), "or --force");
});
