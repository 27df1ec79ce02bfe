// The "Generate" button of the global proxy keys: `sk-` and 48 random characters of
// [A-Za-z0-9_-] from the browser's cryptographic generator, appended to the comma-separated list.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
export const PROXY_KEY_LENGTH = 48;

/** A new proxy key. 64 symbols, so every random byte maps evenly (byte & 63). */
export function generateProxyKey(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(PROXY_KEY_LENGTH));
  let out = "sk-";
  for (const b of bytes) out += ALPHABET[b & 63];
  return out;
}

/** `existing` with `key` added at the end, comma-separated, without empty entries. */
export function appendProxyKey(existing: string, key: string): string {
  const keys = existing
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
  keys.push(key);
  return keys.join(",");
}
