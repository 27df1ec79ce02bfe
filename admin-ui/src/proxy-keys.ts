// Proxy keys as the group form and the global setting edit them: a comma-separated list, and new
// keys of `sk-` and 48 characters of [A-Za-z0-9_-] from the browser's cryptographic generator.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const KEY_LENGTH = 48;

/** A new proxy key. 64 symbols, so the low 6 bits of a random byte pick one without bias. */
export function generateProxyKey(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(KEY_LENGTH));
  let out = "sk-";
  for (const b of bytes) out += ALPHABET[b & 63];
  return out;
}

/** Proxy keys of a comma- or newline-separated list, trimmed, empties dropped. */
export function splitProxyKeys(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((k) => k.trim())
    .filter(Boolean);
}

/** The existing keys, comma-separated, with `count` new ones appended. */
export function appendProxyKeys(existing: string, count: number, random?: (bytes: Uint8Array) => Uint8Array): string {
  const current = splitProxyKeys(existing);
  for (let i = 0; i < count; i++) current.push(generateProxyKey(random));
  return current.join(",");
}
