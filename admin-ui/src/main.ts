import { createApp } from "vue";
import App from "@/App.vue";
import { router } from "@/router";
import { i18n } from "@/i18n";
import { theme } from "@/composables/theme";
import "@/styles/base.css";

theme.apply();
document.documentElement.lang = i18n.global.locale.value;
createApp(App).use(i18n).use(router).mount("#app");
