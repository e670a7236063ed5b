/**
 * The TSDL lexer: identifiers, numbers (decimal, hex, octal, as bigint),
 * string literals and punctuation, comments skipped.
 *
 * @module
 */
import { TsdlError } from "./types.ts";

/** A TSDL token with its offset in the text. */
export type Tok =
  | { t: "id"; v: string; at: number }
  | { t: "num"; v: bigint; at: number }
  | { t: "str"; v: string; at: number }
  | { t: "p"; v: string; at: number }
  | { t: "eof"; v: ""; at: number };

const PUNCT = [
  ":=",
  "...",
  "{",
  "}",
  "(",
  ")",
  "[",
  "]",
  "<",
  ">",
  ";",
  ",",
  "=",
  ":",
  ".",
  "-",
  "+",
  "*",
];

/**
 * Splits TSDL text into tokens (the last one `eof`). Throws a
 * {@linkcode TsdlError} for an unterminated comment or string, or a
 * character TSDL does not have.
 *
 * @example
 * ```ts
 * import { lex } from "./lex.ts";
 * console.log(lex("a := 0x10;").map((t) => t.t)); // ["id", "p", "num", "p", "eof"]
 * ```
 */
export function lex(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0x0b) {
      i++;
    } else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) throw new TsdlError("an unterminated comment", i);
      i = end + 2;
    } else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2f) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
    } else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(text[i])) i++;
      out.push({ t: "id", v: text.slice(start, i), at: start });
    } else if (c >= 0x30 && c <= 0x39) {
      const start = i;
      const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)/.exec(text.slice(i, i + 40));
      if (!m) throw new TsdlError("a bad number", i);
      const digits = m[1];
      let v: bigint;
      if (/^0[xX]/.test(digits)) v = BigInt(digits);
      else if (digits.length > 1 && digits[0] === "0") v = BigInt("0o" + digits.slice(1));
      else v = BigInt(digits);
      i += m[0].length;
      if (i < n && /[A-Za-z0-9_]/.test(text[i])) throw new TsdlError("a bad number", start);
      out.push({ t: "num", v, at: start });
    } else if (c === 0x22) {
      const start = i;
      let s = "";
      i++;
      for (;;) {
        if (i >= n) throw new TsdlError("an unterminated string", start);
        const ch = text[i];
        if (ch === '"') break;
        if (ch === "\\") {
          const e = text[i + 1];
          s += e === "n" ? "\n" : e === "t" ? "\t" : e === "0" ? "\0" : e ?? "";
          i += 2;
        } else {
          s += ch;
          i++;
        }
      }
      i++;
      out.push({ t: "str", v: s, at: start });
    } else {
      const p = PUNCT.find((p) => text.startsWith(p, i));
      if (!p) throw new TsdlError(`an unexpected character '${text[i]}'`, i);
      out.push({ t: "p", v: p, at: i });
      i += p.length;
    }
  }
  out.push({ t: "eof", v: "", at: n });
  return out;
}
