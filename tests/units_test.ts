import assert from "node:assert/strict";
import {
  formatBytes,
  hex,
  parseAddress,
  parseDuration,
  parseInteger,
  parseRate,
  parseSize,
  plural,
} from "../lib/units.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("parseAddress: decimal, hex, octal, binary, separators", () => {
  assert.equal(parseAddress("4096"), 4096n);
  assert.equal(parseAddress("0x1000_0000"), 0x1000_0000n);
  assert.equal(parseAddress("0X1f"), 31n);
  assert.equal(parseAddress("0o17"), 15n);
  assert.equal(parseAddress("0b101"), 5n);
  assert.equal(parseAddress("0xffffffffffffffff"), 0xffff_ffff_ffff_ffffn);
});

Deno.test("parseAddress: rejects what is not a number, naming the option", () => {
  for (const bad of ["", "abc", "0x", "12k", "1.5", "0xg"]) {
    assert.throws(
      () => parseAddress(bad, { option: "--base" }),
      (e: unknown) =>
        e instanceof UsageError && e.option === "--base" && /is not a number/.test(e.message),
    );
  }
});

Deno.test("parseInteger: safe integers only", () => {
  assert.equal(parseInteger("0x10000"), 65536);
  assert.throws(() => parseInteger("0x20000000000000"), UsageError);
});

Deno.test("parseSize: suffixes binary and decimal, hex, fractions", () => {
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize("0x1000"), 4096);
  assert.equal(parseSize("64KiB"), 65536);
  assert.equal(parseSize("64k"), 65536);
  assert.equal(parseSize("8MiB"), 8 << 20);
  assert.equal(parseSize("1MB"), 1_000_000);
  assert.equal(parseSize("1.5MiB"), 1.5 * 1024 * 1024);
  assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
  for (const bad of ["", "KiB", "1.3B", "12XB", "-4", "1e3"]) {
    assert.throws(() => parseSize(bad, { option: "--max-bytes" }), UsageError, bad);
  }
});

Deno.test("parseDuration: units, bare seconds", () => {
  assert.equal(parseDuration("50ms"), 50);
  assert.equal(parseDuration("1s"), 1000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2"), 2000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("250us"), 0.25);
  assert.equal(parseDuration("0"), 0);
  for (const bad of ["", "ms", "5 parsecs", "1d"]) {
    assert.throws(
      () => parseDuration(bad, { option: "--period" }),
      /--period: .* is not a duration/,
    );
  }
});

Deno.test("formatBytes and hex", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.00 GiB");
  assert.equal(hex(4096n), "0x1000");
  assert.equal(hex(255), "0xff");
  // A rate below 1 KiB/s: two decimals, never the float's 15 digits.
  assert.equal(formatBytes(9.504153847463957), "9.50 B");
  assert.equal(plural(1, "page"), "1 page");
  assert.equal(plural(0, "page"), "0 pages");
  assert.equal(plural(2, "page was", "pages were"), "2 pages were");
});

Deno.test("negative numbers, sizes and durations are called negative, naming the option", () => {
  for (
    const [f, kind] of [
      [() => parseInteger("-5", { option: "--pages" }), "a number"],
      [() => parseAddress(" -0x10", { option: "--base" }), "a number"],
      [() => parseSize("-4KiB", { option: "--page-size" }), "a size"],
      [() => parseDuration("-1s", { option: "--period" }), "a duration"],
      [() => parseRate("-1MiB/s", { option: "--rate" }), "a size"],
    ] as const
  ) {
    assert.throws(
      f,
      (e: unknown) =>
        e instanceof UsageError && /^--[a-z-]+: '.*' is negative; give /.test(e.message) &&
        e.message.endsWith(`${kind} from 0 up`),
    );
  }
});

Deno.test("parseRate: a size, with or without /s", () => {
  assert.equal(parseRate("4MiB/s"), 4 << 20);
  assert.equal(parseRate("4MiB / s"), 4 << 20);
  assert.equal(parseRate("262144"), 262144);
  assert.throws(
    () => parseRate("fast", { option: "--rate" }),
    /--rate: 'fast' is not a rate; use bytes per second, like 262144, 256KiB, 4MiB or 4MiB\/s/,
  );
});
