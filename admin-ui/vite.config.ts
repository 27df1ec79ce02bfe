/// <reference types="vitest/config" />
// Build and test configuration of the admin SPA. `npm run dev` proxies /api to a running gateway
// (GATEWAY_URL, default http://127.0.0.1:3001) so the UI can be developed against real data.
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";
import { fileURLToPath, URL } from "node:url";
import { readFileSync } from "node:fs";

// The gateway's version (the Rust workspace's), shown in the footer.
const cargo = readFileSync(new URL("../Cargo.toml", import.meta.url), "utf8");
const version = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(cargo)?.[1] ?? "unknown";
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:3001";

export default defineConfig({
  plugins: [vue()],
  define: {
    __APP_VERSION__: JSON.stringify(process.env.VITE_VERSION ?? version),
  },
  resolve: {
    alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) },
  },
  server: {
    proxy: { "/api": gateway, "/health": gateway },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks: {
          vendor: ["vue", "vue-router", "vue-i18n"],
          naive: ["naive-ui"],
          charts: ["chart.js"],
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["tests/unit/**/*.test.ts"],
  },
});
