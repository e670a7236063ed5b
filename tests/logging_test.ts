import assert from "node:assert/strict";
import { configureLogging, LOG_LEVELS } from "../cli/logging.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("configureLogging accepts the documented levels and rejects others", () => {
  for (const level of LOG_LEVELS) configureLogging(level);
  assert.throws(() => configureLogging("verbose"), UsageError);
  configureLogging("warning");
});
