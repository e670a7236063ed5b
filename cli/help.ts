/**
 * The top-level help of `ringdump`, with no dependency: the program's
 * description, its epilogue (examples and exit codes), the table of its
 * commands, and the one renderer of `ringdump --help`. cli.ts prints it
 * without loading commander (whose Node compatibility layer alone costs as
 * much as starting Deno); cli/program.ts gives commander the same table and
 * the same renderer, so both print the same bytes.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/**
 * The version printed by `ringdump --version`.
 *
 * @example
 * ```ts
 * import { VERSION } from "./help.ts";
 * console.log(/^\d+\.\d+\.\d+/.test(VERSION)); // true
 * ```
 */
export const VERSION: string = denoJson.version;

/**
 * What `ringdump --help` says ringdump does (commander wraps it to the width).
 *
 * @example
 * ```ts
 * import { PROGRAM_DESCRIPTION } from "./help.ts";
 * console.log(PROGRAM_DESCRIPTION.startsWith("Stream what capture hardware writes")); // true
 * ```
 */
export const PROGRAM_DESCRIPTION: string =
  "Stream what capture hardware writes into a ring buffer in physical memory to a file, " +
  "without losing a byte.";

// Pre-formatted blocks (addHelpText, the epilogue): nothing wraps them, so
// keep their lines within 80 columns. Prose belongs in description(), which
// commander wraps to the terminal.
/**
 * The exit codes of a capture, as `--help` shows them.
 *
 * @example
 * ```ts
 * import { EXIT_CODES } from "./help.ts";
 * console.log(EXIT_CODES.includes("70  internal error")); // true
 * ```
 */
export const EXIT_CODES: string = `
Exit codes:
  0   success (also after Ctrl-C/SIGTERM when nothing was lost, and when
      the reader of --out - closed the pipe)
  1   data lost (overrun, torn read, a stall long enough for the counter
      to wrap unseen, or pages skipped with --overrun gap), or verify failed
  2   usage error (bad flag, URL, geometry, or output path, an output that
      is the image or a trace); nothing captured, nothing overwritten
  3   backend, device or output error (a hung tool, a glitching counter, a
      full disk); what was captured before it is on disk
  70  internal error (a bug: please report it)
  130 a second Ctrl-C: no final drain; the output is closed and valid`;

/**
 * What `ringdump --help` prints after the list of commands: examples, then
 * {@linkcode EXIT_CODES}.
 *
 * @example
 * ```ts
 * import { PROGRAM_EPILOGUE } from "./help.ts";
 * console.log(PROGRAM_EPILOGUE.includes("\nExamples:\n")); // true
 * ```
 */
export const PROGRAM_EPILOGUE: string = `
Examples:
  # 3 s of a tone from the simulated device (sim:, the default backend)
  ringdump capture --duration 3s --out capture.wav
  # real hardware: a 4 MiB ring at 0x30000000, its page counter at 0x43c00010
  ringdump capture --backend devmem:/dev/mem --base 0x30000000 --pages 1024 \\
      --counter 0x43c00010 --period 50ms --out dump.bin
  # the self-checking counter pattern, then check the capture has no gap
  ringdump capture --backend 'sim:?pattern=counter' --duration 2s --out c.bin
  ringdump verify c.bin
${EXIT_CODES}`;

/**
 * What `ringdump` with no command says on stderr after the help (exit 2).
 *
 * @example
 * ```ts
 * import { NO_COMMAND } from "./help.ts";
 * console.log(NO_COMMAND.startsWith("ringdump: no command given")); // true
 * ```
 */
export const NO_COMMAND: string = "ringdump: no command given: name one of the commands above";

/** A term and its description: a line of a list in the help. */
export interface HelpItem {
  /** What the user types, e.g. `-V, --version` or `verify [options] <file>`. */
  readonly term: string;
  /** One line about it (wrapped to the width). */
  readonly description: string;
}

/**
 * The options of `ringdump` itself: commander's version option (cli/program.ts
 * gives it this text) and its built-in help option.
 *
 * @example
 * ```ts
 * import { PROGRAM_OPTIONS } from "./help.ts";
 * console.log(PROGRAM_OPTIONS.map((o) => o.term)); // ["-V, --version", "-h, --help"]
 * ```
 */
export const PROGRAM_OPTIONS: readonly HelpItem[] = [
  { term: "-V, --version", description: "output the version number" },
  { term: "-h, --help", description: "display help for command" },
];

/** The name of a `ringdump` command. */
export type CommandName =
  | "capture"
  | "verify"
  | "sim"
  | "backends"
  | "agent"
  | "deploy"
  | "trace";

/** A `ringdump` command, as the top-level help lists it. */
export interface CommandHelp {
  /** Its name. */
  readonly name: CommandName;
  /**
   * What follows the name in the list, as commander shows it: `[options]`
   * when it has options, then its arguments (e.g. `[options] <file>`), or
   * `""`.
   */
  readonly args: string;
  /** The one line the list shows (the command's commander `summary`). */
  readonly summary: string;
}

/**
 * The commands, in the order `ringdump --help` lists them (the order
 * cli/program.ts adds them in); each `add*Command` takes its summary from
 * here ({@linkcode commandSummary}).
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./help.ts";
 * console.log(COMMANDS.find((c) => c.name === "verify")?.args); // "[options] <file>"
 * ```
 */
export const COMMANDS: readonly CommandHelp[] = [
  {
    name: "capture",
    args: "[options]",
    summary: "Capture the ring to a file until a limit or Ctrl-C",
  },
  {
    name: "verify",
    args: "[options] <file>",
    summary: "Check a capture of the 'counter' pattern for gaps",
  },
  {
    name: "sim",
    args: "[options]",
    summary: "Be the capture hardware, writing into a memory image",
  },
  {
    name: "backends",
    args: "[options]",
    summary: "List the backend schemes and which are usable here",
  },
  {
    name: "agent",
    args: "[options]",
    summary: "Serve memory reads for ssh://HOST?via=agent",
  },
  {
    name: "deploy",
    args: "[options] <url>",
    summary: "Put a ringdump executable on a board over SSH",
  },
  {
    name: "trace",
    args: "",
    summary: "Analyse a trace: ringdump's ('capture --trace') or an LTTng session's",
  },
];

/** commander's implicit `help` command, last in the list. */
const HELP_COMMAND: HelpItem = { term: "help [command]", description: "display help for command" };

/**
 * The one-line summary of a command, from {@linkcode COMMANDS}.
 *
 * @example
 * ```ts
 * import { commandSummary } from "./help.ts";
 * console.log(commandSummary("verify")); // "Check a capture of the 'counter' pattern for gaps"
 * ```
 */
export function commandSummary(name: CommandName): string {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new Error(`no command '${name}' in the help table`);
  return command.summary;
}

/**
 * The width the help is wrapped to on `stream`, as commander decides it: the
 * terminal's columns when the stream is a terminal, else 80.
 *
 * @example
 * ```ts
 * import { helpWidth } from "./help.ts";
 * console.log(helpWidth("stdout") > 0); // true
 * ```
 */
export function helpWidth(stream: "stdout" | "stderr"): number {
  if (!Deno[stream].isTerminal()) return 80;
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/** Below this many columns commander does not wrap (its Help.minWidthToWrap). */
const MIN_WIDTH_TO_WRAP = 40;

/**
 * commander's Help.boxWrap: wraps each line of `text` at whitespace to
 * `width` (a word longer than the width stays whole), unless the width is
 * below {@linkcode MIN_WIDTH_TO_WRAP}.
 */
function boxWrap(text: string, width: number): string {
  if (width < MIN_WIDTH_TO_WRAP) return text;
  const wrapped: string[] = [];
  for (const line of text.split(/\r\n|\n/)) {
    const chunks = line.match(/[\s]*[^\s]+/g);
    if (chunks === null) {
      wrapped.push("");
      continue;
    }
    let current = chunks[0];
    for (const chunk of chunks.slice(1)) {
      if (current.length + chunk.length <= width) {
        current += chunk;
      } else {
        wrapped.push(current);
        current = chunk.trimStart();
      }
    }
    wrapped.push(current);
  }
  return wrapped.join("\n");
}

/**
 * commander's Help.formatItem: the term padded to `termWidth`, two spaces,
 * and the description wrapped to what is left of `width` (its continuation
 * lines indented under it), all indented by two.
 */
function formatItem(item: HelpItem, termWidth: number, width: number): string {
  const indent = "  ";
  const spacer = 2;
  const remaining = width - termWidth - spacer - indent.length;
  // A description with a line break followed by indentation is pre-formatted: left alone.
  const description = remaining < MIN_WIDTH_TO_WRAP || /\n[^\S\r\n]/.test(item.description)
    ? item.description
    : boxWrap(item.description, remaining).replace(/\n/g, "\n" + " ".repeat(termWidth + spacer));
  return indent + item.term.padEnd(termWidth) + " ".repeat(spacer) +
    description.replace(/\n/g, `\n${indent}`);
}

/**
 * The whole of `ringdump --help` wrapped to `width` columns (80 when the
 * output is not a terminal: see {@linkcode helpWidth}): commander's layout of
 * the usage line, {@linkcode PROGRAM_DESCRIPTION}, {@linkcode PROGRAM_OPTIONS}
 * and {@linkcode COMMANDS} (terms in one column, descriptions wrapped beside
 * them), then {@linkcode PROGRAM_EPILOGUE}. cli.ts prints it without
 * commander, and cli/program.ts makes it commander's own top-level help.
 *
 * @example
 * ```ts
 * import { renderProgramHelp } from "./help.ts";
 * const help = renderProgramHelp(80);
 * console.log(help.split("\n")[0]); // "Usage: ringdump [options] [command]"
 * console.log(help.includes("\n  verify [options] <file>  Check a capture")); // true
 * ```
 */
export function renderProgramHelp(width: number = 80): string {
  const commands: HelpItem[] = [
    ...COMMANDS.map((c) => ({
      term: c.args ? `${c.name} ${c.args}` : c.name,
      description: c.summary,
    })),
    HELP_COMMAND,
  ];
  const termWidth = Math.max(...[...PROGRAM_OPTIONS, ...commands].map((i) => i.term.length));
  return [
    "Usage: ringdump [options] [command]",
    "",
    boxWrap(PROGRAM_DESCRIPTION, width),
    "",
    "Options:",
    ...PROGRAM_OPTIONS.map((o) => formatItem(o, termWidth, width)),
    "",
    "Commands:",
    ...commands.map((c) => formatItem(c, termWidth, width)),
    "",
  ].join("\n") + PROGRAM_EPILOGUE + "\n";
}
