/**
 * Where captured bytes go: a raw file (append or truncate), stdout (so a
 * capture can be piped), a WAV file (header sizes patched on flush and close,
 * so even a stopped or failed capture is a valid WAV), memory, or nowhere.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { OpenSinkOptions, Sink } from "./types.ts";
import { FileSink } from "./file.ts";
import { StdoutSink } from "./stdout.ts";
import { WavSink } from "./wav.ts";

export type { OpenSinkOptions, Sink, SinkFormat } from "./types.ts";
export { FileSink } from "./file.ts";
export { StdoutSink } from "./stdout.ts";
export { WAV_HEADER_BYTES, wavHeader, WavSink } from "./wav.ts";
export { DiscardSink, MemorySink } from "./memory.ts";

/**
 * Opens the sink for an output argument: `-` is stdout, a `.wav` name (or
 * `format: "wav"`) a WAV file, anything else a raw file.
 *
 * @example
 * ```ts
 * import { openSink } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".wav" });
 * const sink = await openSink(path, { rate: 8000, channels: 1 });
 * console.log(sink.name.startsWith("wav")); // true
 * await sink.close();
 * ```
 */
export async function openSink(target: string, options: OpenSinkOptions = {}): Promise<Sink> {
  const format = options.format ?? (/\.wav$/i.test(target) ? "wav" : "raw");
  if (target === "-") {
    if (format === "wav") {
      throw new UsageError("--format wav cannot go to stdout (its header is patched on close)", {
        option: "--format",
        value: "wav",
      });
    }
    if (Deno.stdout.isTerminal()) {
      throw new UsageError(
        "--out -: refusing to write binary data to a terminal; pipe or redirect it (| xxd, > file)",
        { option: "--out", value: "-" },
      );
    }
    return new StdoutSink();
  }
  if (format === "wav") {
    if (options.append) {
      throw new UsageError("--append works only with --format raw", {
        option: "--append",
      });
    }
    return await WavSink.open(target, options);
  }
  return await FileSink.open(target, { append: options.append });
}
