// The state of a modal that takes pasted key text (one key per line; commas and spaces also
// separate): the text and its error, cleared each time the modal opens, and a submit that
// refuses empty text before running the modal's action (busy while it runs).
import { ref, watch, type Ref } from "vue";
import { useI18n } from "vue-i18n";
import { useBusy } from "@/composables/busy";
import { parseKeysText } from "@/components/keys/key-list";

export function usePastedKeys(show: Ref<boolean>) {
  const { t } = useI18n();
  const text = ref("");
  const error = ref("");
  const { busy, run } = useBusy();

  watch(show, (open) => {
    if (open) {
      text.value = "";
      error.value = "";
    }
  });

  async function submitWith(action: (text: string) => Promise<void>) {
    error.value = "";
    if (parseKeysText(text.value).length === 0) {
      error.value = t("keys.add.textRequired");
      return;
    }
    await run(() => action(text.value));
  }

  return { text, error, busy, submitWith };
}
