/**
 * A small seeded PRNG (sfc32) and the choices the fuzzer makes with it. Every request gets its
 * own generator, seeded from the run's seed and the request's number, so request N of a seed is
 * the same whatever order the workers happened to send them in.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export function createRandom(seed: number, stream = 0): Random {
  // sfc32, seeded through splitmix32 so that nearby seeds give unrelated streams.
  let state = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  const splitmix = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let warmup = 0; warmup < 12; warmup++) {
    next();
  }
  const random: Random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (probability) => next() < probability,
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) {
        throw new Error("pick from an empty list");
      }
      return item;
    },
  };
  return random;
}

const UNICODE_SAMPLES = [
  "é",
  "ß",
  "日本語",
  "مرحبا",
  "\u202e",
  "🦀",
  "👩‍👩‍👧",
  "\u0000",
  "\u0007",
  "\ud800",
  "\udfff",
  "\ufeff",
  "\uffff",
  "\\",
  '"',
  "'",
  "\n",
  "\r\n",
  "%00",
  "%",
  "{{",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text itself, as a client may send it
  "${x}",
  "<script>",
];

/** A string of random length made of ASCII, tricky unicode (lone surrogates, NUL, RTL) and noise. */
export function randomString(random: Random, maxLength = 40): string {
  const length = random.int(0, maxLength);
  let text = "";
  while (text.length < length) {
    if (random.chance(0.3)) {
      text += random.pick(UNICODE_SAMPLES);
    } else {
      text += String.fromCharCode(random.int(32, 126));
    }
  }
  return text;
}

export const HOSTILE_STRINGS = [
  "' OR 1=1 --",
  "'; DROP TABLE responses; --",
  '" OR ""="',
  "../../etc/passwd",
  "..\\..\\windows\\win.ini",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/etc/passwd",
  "file-../../ferry.db",
  "resp_\u0000",
  "\u0000",
  "",
  " ",
  "null",
  "undefined",
  "NaN",
  "__proto__",
  "constructor",
  "cmpl_0000000000000000",
  "cmpl_9999999999999999",
  "cmpl_-000000000000001",
] as const;

export const EXTREME_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  1e308,
  -1e308,
  1e20,
  2 ** 53 + 1,
  -(2 ** 31),
  2 ** 31,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_VALUE,
  3.000000000001,
] as const;

/** Number text for query strings and raw JSON, including what JSON.stringify cannot produce. */
export const NUMBER_TEXTS = [
  "0",
  "-1",
  "1",
  "1e308",
  "1e400",
  "-1e400",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "1_000",
  "01",
  "1.5",
  "20",
  "100",
  "101",
  "10000",
  "10001",
  "30000",
  "30001",
  "",
  " ",
  "%00",
  "9".repeat(400),
] as const;

/** Any JSON value, nested up to `depth`. */
export function randomJson(random: Random, depth = 3): unknown {
  const kind = random.int(0, depth > 0 ? 7 : 4);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick(EXTREME_NUMBERS);
    case 3:
      return randomString(random);
    case 4:
      return random.pick(HOSTILE_STRINGS);
    case 5:
      return Array.from({ length: random.int(0, 4) }, () => randomJson(random, depth - 1));
    default: {
      const value: Record<string, unknown> = {};
      for (let index = random.int(0, 4); index > 0; index--) {
        value[randomString(random, 12)] = randomJson(random, depth - 1);
      }
      return value;
    }
  }
}
