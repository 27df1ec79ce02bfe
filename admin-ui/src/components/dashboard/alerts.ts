// What the dashboard's two alerts remember, and the steps of each encryption scenario with the
// exact `gateway-admin migrate-keys` commands (commands are never translated).
import type { SecurityWarning } from "@/api/dashboard";

export const ENCRYPTION_CLOSED = "encryption-alert-closed";
export const SECURITY_CLOSED = "security-alert-closed";
export const SECURITY_DISMISSED = "security-alert-dismissed";

export const MIGRATE = {
  encrypt: "gateway-admin migrate-keys --to NEW",
  decrypt: "gateway-admin migrate-keys --from OLD",
  rotate: "gateway-admin migrate-keys --from OLD --to NEW",
} as const;

/** One way out of a scenario: i18n keys of its title and steps, and the command among them. */
export interface EncryptionOption {
  title: string;
  steps: { text: string; command?: string }[];
}

const p = (s: string) => `dashboard.encryption.steps.${s}`;

export function encryptionOptions(scenario: string): EncryptionOption[] {
  switch (scenario) {
    case "data_not_encrypted":
      return [
        { title: p("encryptTitle"), steps: [{ text: p("stop") }, { text: p("runEncrypt"), command: MIGRATE.encrypt }, { text: p("startWithNew") }] },
        { title: p("keepPlainTitle"), steps: [{ text: p("unsetKey") }, { text: p("restart") }] },
      ];
    case "key_not_configured":
      return [
        { title: p("setOldTitle"), steps: [{ text: p("setOld") }, { text: p("restart") }] },
        { title: p("decryptTitle"), steps: [{ text: p("stop") }, { text: p("runDecrypt"), command: MIGRATE.decrypt }, { text: p("startWithout") }] },
      ];
    case "key_mismatch":
      return [
        { title: p("setOldTitle"), steps: [{ text: p("setOld") }, { text: p("restart") }] },
        { title: p("rotateTitle"), steps: [{ text: p("stop") }, { text: p("runRotate"), command: MIGRATE.rotate }, { text: p("startWithNew") }] },
      ];
    default:
      return [
        { title: p("inconsistentTitle"), steps: [{ text: p("sameKey") }, { text: p("checkLogs") }, { text: p("reimport") }] },
      ];
  }
}

export function readFlag(storage: Storage, key: string): boolean {
  try {
    return storage.getItem(key) === "true";
  } catch {
    return false;
  }
}

export function writeFlag(storage: Storage, key: string) {
  try {
    storage.setItem(key, "true");
  } catch {
    // storage disabled: the alert stays closed until the page reloads
  }
}

/** How many warnings are high severity (they need priority attention). */
export function highCount(warnings: SecurityWarning[]): number {
  return warnings.filter((w) => w.severity === "high").length;
}
