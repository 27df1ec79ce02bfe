// Routes of the SPA (GPT-Load's paths) and the guard: everything but /login needs the admin key.
import { createRouter, createWebHistory } from "vue-router";
import { auth } from "@/composables/auth";
import { setUnauthorizedHandler } from "@/api/client";

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/login", name: "login", component: () => import("@/views/LoginView.vue") },
    {
      path: "/",
      component: () => import("@/components/AppLayout.vue"),
      children: [
        { path: "", name: "dashboard", component: () => import("@/views/DashboardView.vue") },
        { path: "keys", name: "keys", component: () => import("@/views/KeysView.vue") },
        { path: "logs", name: "logs", component: () => import("@/views/LogsView.vue") },
        { path: "settings", name: "settings", component: () => import("@/views/SettingsView.vue") },
      ],
    },
    { path: "/:pathMatch(.*)*", redirect: "/" },
  ],
});

router.beforeEach((to) => {
  if (to.name !== "login" && !auth.loggedIn()) return { name: "login", query: to.fullPath !== "/" ? { redirect: to.fullPath } : {} };
  if (to.name === "login" && auth.loggedIn()) return { name: "dashboard" };
  return true;
});

setUnauthorizedHandler(() => {
  if (router.currentRoute.value.name !== "login") void router.push({ name: "login" });
});
