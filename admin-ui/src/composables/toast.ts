// Toasts, confirmation dialogs and notifications usable outside components (the API client,
// the task poller), through Naive UI's discrete API, themed like the rest of the app.
import { computed } from "vue";
import { createDiscreteApi, darkTheme, type DialogOptions } from "naive-ui";
import { theme } from "@/composables/theme";

const configProviderProps = computed(() => ({ theme: theme.isDark.value ? darkTheme : null }));

const { message, dialog, notification } = createDiscreteApi(["message", "dialog", "notification"], {
  configProviderProps,
});

export const toast = {
  success: (text: string) => message.success(text, { duration: 3000 }),
  error: (text: string) => message.error(text, { duration: 5000, closable: true }),
  info: (text: string) => message.info(text, { duration: 3000 }),
  warning: (text: string) => message.warning(text, { duration: 5000 }),
};

export { notification };

/** Asks a yes/no question; resolves true when the user confirms. */
export function confirm(options: DialogOptions & { title: string; content: string }): Promise<boolean> {
  return new Promise((resolve) => {
    dialog.warning({
      positiveText: "OK",
      negativeText: "Cancel",
      ...options,
      onPositiveClick: () => resolve(true),
      onNegativeClick: () => resolve(false),
      onClose: () => resolve(false),
      onMaskClick: () => resolve(false),
    });
  });
}
