/**
 * Where captured bytes go: a raw file (append or truncate), stdout (so a
 * capture can be piped), a WAV file (header sizes patched after every append,
 * so it is a valid WAV at every moment), memory, or nowhere.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { OpenSinkOptions, Sink } from "./types.ts";
import { FileSink } from "./file.ts";
import { StdoutSink } from "./stdout.ts";
import { validateWav, WavSink } from "./wav.ts";

export type { OpenSinkOptions, Sink, SinkFormat } from "./types.ts";
export { FileSink } from "./file.ts";
export { StdoutSink } from "./stdout.ts";
export { WAV_HEADER_BYTES, wavHeader, WavSink } from "./wav.ts";
export { DiscardSink, MemorySink } from "./memory.ts";
export { DeferredSink } from "./deferred.ts";

/**
 * Checks an output argument and its options without opening anything (the
 * checks {@linkcode openSink} makes first), so a bad one is a usage error
 * before a capture starts.
 *
 * @example
 * ```ts
 * import { checkSink } from "./mod.ts";
 * try {
 *   checkSink("-", { format: "wav" });
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("format wav cannot go to stdout")); // true
 * }
 * ```
 */
export function checkSink(target: string, options: OpenSinkOptions = {}): void {
  const format = options.format ?? (/\.wav$/i.test(target) ? "wav" : "raw");
  if (target === "-") {
    if (format === "wav") {
      throw new UsageError("format wav cannot go to stdout (its header is patched in place)", {
        option: "format",
        value: "wav",
      });
    }
    if (Deno.stdout.isTerminal()) {
      throw new UsageError(
        "out -: refusing to write binary data to a terminal; pipe or redirect it (| xxd, > file)",
        { option: "out", value: "-" },
      );
    }
    return;
  }
  if (format === "wav") {
    if (options.append) {
      throw new UsageError("append works only with the raw format", { option: "append" });
    }
    validateWav(options);
  }
}

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
 * await Deno.remove(path);
 * ```
 */
export async function openSink(target: string, options: OpenSinkOptions = {}): Promise<Sink> {
  checkSink(target, options);
  const format = options.format ?? (/\.wav$/i.test(target) ? "wav" : "raw");
  if (target === "-") return new StdoutSink();
  if (format === "wav") return await WavSink.open(target, options);
  return await FileSink.open(target, { append: options.append });
}
