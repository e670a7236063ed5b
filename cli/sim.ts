/**
 * `ringdump sim`: a live device to read. It creates or grows a memory image
 * (a file standing for physical memory from `--origin`) and then behaves like
 * capture hardware: it writes ring pages, then advances the little-endian u32
 * counter register, at `--rate`, until `--duration` ends or it gets
 * SIGINT/SIGTERM. Every backend can read the image.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { commandSummary } from "./help.ts";
import {
  addGeometryOptions,
  durationFlag,
  type GeometryFlags,
  geometryFromFlags,
} from "./options.ts";
import { UsageError } from "../lib/errors.ts";
import type { PatternName } from "../lib/sim/pattern.ts";
import {
  formatBytes,
  hex,
  parseAddress,
  parseDuration,
  parseInteger,
  parseRate,
} from "../lib/units.ts";

interface SimFlags extends GeometryFlags {
  image: string;
  origin?: string;
  rate?: string;
  pattern: PatternName;
  duration?: string;
  burst: string;
  start: string;
  tick: string;
  quiet: boolean;
  force: boolean;
}

/**
 * Adds `ringdump sim` to a commander program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addSimCommand } from "./sim.ts";
 * const program = new Command("ringdump");
 * addSimCommand(program);
 * console.log(program.commands.map((c) => c.name())); // ["sim"]
 * ```
 */
export function addSimCommand(program: Command): Command {
  const sim = program
    .command("sim")
    .summary(commandSummary("sim"))
    .description(
      "Be the capture hardware: write a ring and its page counter into a memory image " +
        "(a file standing for physical memory from --origin) at --rate, until --duration " +
        "or Ctrl-C/SIGTERM. Any backend can then capture from the image.\n\n" +
        "The image holds physical address A at byte A - origin. Pages are written first, then " +
        "the counter register (a little-endian u32 at --counter), as hardware does.",
    )
    .requiredOption("--image <file>", "the memory image to create or grow (e.g. /dev/shm/ring.img)")
    .option(
      "--force",
      "use an existing --image that is not a memory image ringdump sim made (overwriting it)",
      false,
    )
    .option(
      "--origin <addr>",
      "physical address of the image's first byte (default: the lower of --base and --counter)",
    );
  addGeometryOptions(sim)
    .option(
      "--rate <size>",
      "bytes written per second (2MiB); default 1MiB, or real-time audio for sine",
    )
    .addOption(
      new Option("--pattern <name>", "data written: counter (self-checking) or sine (a tone)")
        .choices(["counter", "sine"]).default("counter"),
    )
    .option("-d, --duration <dur>", "stop after this long (default: until Ctrl-C or SIGTERM)")
    .option(
      "--burst <n>",
      "pages per hardware write (the counter advances by this much at once)",
      "1",
    )
    .option("--start <n>", "counter value when the device starts", "0")
    .option("--tick <dur>", "how often the device wakes to write what is due", "1ms")
    .option("-q, --quiet", "no start and summary lines on stderr", false)
    .addHelpText(
      "after",
      `
Examples:
  # a device writing the counter pattern at 2 MiB/s for 10 s, in the background
  ringdump sim --image /dev/shm/ring.img --origin 0 --pages 64 \\
      --counter-wrap 0x100 --rate 2MiB --duration 10s &
  # capture 5 s of it through the devmem backend, then check for gaps
  ringdump capture --backend 'devmem:/dev/shm/ring.img?origin=0' --pages 64 \\
      --counter-wrap 0x100 --period 20ms --duration 5s --out c.bin
  ringdump verify c.bin`,
    )
    .action((flags: SimFlags) => runSim(flags));
  return sim;
}

async function runSim(flags: SimFlags): Promise<void> {
  const geometry = geometryFromFlags(flags);
  const origin = flags.origin === undefined
    ? undefined
    : parseAddress(flags.origin, { option: "--origin" });
  const rate = flags.rate === undefined ? undefined : parseRate(flags.rate, { option: "--rate" });
  if (rate !== undefined && rate <= 0) {
    throw new UsageError("--rate must be greater than 0", { option: "--rate", value: flags.rate });
  }
  const duration = durationFlag(flags.duration, "--duration");
  const tick = parseDuration(flags.tick, { option: "--tick" });
  const burst = parseInteger(flags.burst, { option: "--burst" });
  const start = parseInteger(flags.start, { option: "--start" });
  // Loaded when the command runs, so `ringdump --help` does not load the simulator.
  const [{ SimDevice }, { systemClock }, { ImageMemory }] = await Promise.all([
    import("../lib/sim/device.ts"),
    import("../lib/clock.ts"),
    import("../lib/sim/image.ts"),
  ]);
  const memory = ImageMemory.open(flags.image, geometry, { origin, force: flags.force });
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const clock = systemClock;
    const device = new SimDevice(geometry, {
      memory,
      rate,
      pattern: flags.pattern,
      burst,
      start,
      clock,
    });
    const t0 = clock.now();
    if (!flags.quiet) {
      console.error(
        `ringdump sim: writing the ${device.pattern} pattern at ${
          formatBytes(device.rate)
        }/s into ${flags.image} (origin ${hex(memory.layout.origin)}, ${
          formatBytes(memory.layout.size)
        }): ring ${hex(geometry.base)}..${hex(geometry.base + BigInt(geometry.ringBytes))}, ` +
          `${geometry.pages} pages of ${geometry.pageSize} bytes, counter at ${
            hex(geometry.counterAddress)
          } wrapping at ${hex(geometry.counterWrap)}`,
      );
    }
    // Never past --duration's worth, however late a loaded machine wakes this process.
    const until = () => duration === undefined ? undefined : Math.min(clock.now(), t0 + duration);
    while (!controller.signal.aborted) {
      device.step(until());
      const elapsed = clock.now() - t0;
      if (duration !== undefined && elapsed >= duration) break;
      const wait = duration === undefined ? tick : Math.min(tick, duration - elapsed);
      await clock.sleep(Math.max(wait, 0.1), controller.signal);
    }
    device.step(until());
    if (!flags.quiet) {
      const secs = ((until() ?? clock.now()) - t0) / 1000;
      console.error(
        `ringdump sim: wrote ${device.written} pages (${
          formatBytes(device.written * geometry.pageSize)
        }) in ${secs.toFixed(2)} s; counter at ${hex(device.counter)}, wrapped ${
          Math.floor((start + device.written) / geometry.counterWrap)
        } times; the ring lapped ${Math.floor(device.written / geometry.pages)} times`,
      );
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    memory.close();
  }
}
