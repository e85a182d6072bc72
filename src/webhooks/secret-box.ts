import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Seals the secrets ferry must keep in the clear to use them later (webhook signing secrets,
 * callback passwords and client keys) with AES-256-GCM under a key kept outside the database:
 * `FERRY_SECRETS_KEY` when the operator sets it, else `<data dir>/secrets.key`, made on first
 * use (mode 0600). A copy of ferry.db alone then signs nothing; with the key in the environment,
 * not even a copy of the whole data directory does. GCM's tag makes a tampered value fail to open
 * rather than open to garbage.
 */
export interface SecretBox {
  seal(plaintext: string): string;
  /** Throws when the value was sealed under another key or was changed. */
  open(sealed: string): string;
}

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_FILE = "secrets.key";

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== KEY_BYTES) {
    throw new Error(`the secrets key must be ${KEY_BYTES} bytes, not ${key.length}`);
  }
  return {
    seal(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64")}`;
    },
    open(sealed) {
      const [version, payload] = sealed.split(".", 2);
      if (version !== VERSION || payload === undefined) {
        throw new Error("not a sealed secret");
      }
      const bytes = Buffer.from(payload, "base64");
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString("utf8");
    },
  };
}

/**
 * The key from `FERRY_SECRETS_KEY` (32 bytes as 64 hex characters or base64), else from the
 * data directory's key file, which is written when missing. Throws with a message naming the
 * variable or file when the key is unusable.
 */
export function loadSecretsKey(options: { envKey?: string; dataDir: string }): Buffer {
  if (options.envKey !== undefined && options.envKey !== "") {
    const key = decodeKey(options.envKey);
    if (key === null) {
      throw new Error(
        `FERRY_SECRETS_KEY must be ${KEY_BYTES} bytes as 64 hex characters or base64 (e.g. \`openssl rand -base64 32\`)`,
      );
    }
    return key;
  }
  const file = path.join(options.dataDir, KEY_FILE);
  let text: string | null = null;
  try {
    text = readFileSync(file, "utf8");
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code !== "ENOENT") {
      throw thrown;
    }
  }
  if (text !== null) {
    const key = decodeKey(text.trim());
    if (key === null) {
      throw new Error(`${file} does not hold a ${KEY_BYTES}-byte key in base64`);
    }
    return key;
  }
  const key = randomBytes(KEY_BYTES);
  mkdirSync(options.dataDir, { recursive: true });
  // Written whole under a temporary name, then linked into place: link fails if the file
  // exists, so two processes starting at once cannot both make a key, and the loser reads the
  // winner's complete file.
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${key.toString("base64")}\n`, { mode: 0o600 });
  try {
    linkSync(temp, file);
    return key;
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === "EEXIST") {
      return loadSecretsKey(options);
    }
    throw thrown;
  } finally {
    rmSync(temp, { force: true });
  }
}

function decodeKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    return Buffer.from(text, "hex");
  }
  const bytes = Buffer.from(text, "base64");
  return bytes.length === KEY_BYTES ? bytes : null;
}
