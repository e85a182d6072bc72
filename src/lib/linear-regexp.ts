import { RE2JS } from "re2js";

/**
 * A regular-expression engine for Ajv whose matching time is linear in the input (RE2, in pure
 * JavaScript), so a client's JSON Schema `pattern` cannot freeze the server: with V8's
 * backtracking engine, `^(a+)+$` takes seconds on a 30-character string and doubles per
 * character, and the mock tests every value it writes against the client's patterns.
 *
 * RE2 leaves out what cannot be matched in linear time: lookarounds and backreferences. A
 * pattern that uses them is compiled by V8 instead, as before; such patterns are rare in schemas
 * (OpenAI's structured outputs do not accept them either).
 */
export interface RegExpLike {
  test(text: string): boolean;
  toString(): string;
}

function linearRegExpEngine(pattern: string, flags: string): RegExpLike {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch {
    return new RegExp(pattern, flags);
  }
  return {
    // JSON Schema's `pattern` matches anywhere in the string, as RegExp.test does.
    test: (text: string) => compiled.matcher(text).find(),
    // Ajv keys its compiled patterns by toString(): it must tell patterns apart.
    toString: () => `/${pattern}/${flags}`,
  };
}

/** Ajv's `code.regExp` option; `code` names it in generated source (Ajv requires the field). */
export const linearRegExp = Object.assign(linearRegExpEngine, { code: "linearRegExp" });
