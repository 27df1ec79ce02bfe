// The life of one dashboard chart on its canvas: drawn once mounted, drawn again (the old one
// destroyed first) when its data, the theme or the language changes, destroyed on unmount.
import { nextTick, onBeforeUnmount, onMounted, useTemplateRef, watch, type WatchSource } from "vue";
import { useI18n } from "vue-i18n";
import type { ChartConfiguration, ChartType } from "chart.js";
import { theme } from "@/composables/theme";
import { Chart, chartPalette, type ChartPalette } from "@/components/dashboard/charts";

/**
 * Draws on the `<canvas ref="…">` named `refName` and returns that element's ref. `config` builds
 * the chart in the current theme's colours, or returns null when there is nothing to draw.
 */
export function useChart<T extends ChartType>(
  refName: string,
  data: WatchSource<unknown>,
  config: (palette: ChartPalette) => ChartConfiguration<T> | null,
) {
  const { locale } = useI18n();
  const canvas = useTemplateRef<HTMLCanvasElement>(refName);
  let chart: Chart<T> | null = null;

  function destroy() {
    chart?.destroy();
    chart = null;
  }

  function render() {
    destroy();
    if (!canvas.value) return;
    const c = config(chartPalette(theme.isDark.value));
    if (c) chart = new Chart(canvas.value, c);
  }

  watch([data, () => theme.isDark.value, locale], () => void nextTick(render));
  onMounted(render);
  onBeforeUnmount(destroy);
  return canvas;
}
