// Chart.js with only the parts the dashboard draws (lines, areas, bars), and the colours of text
// and grid lines for the light and the dark theme.
import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from "chart.js";

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, CategoryScale, LinearScale, Filler, Tooltip, Legend);

export { Chart };

export interface ChartPalette {
  text: string;
  grid: string;
  tooltipBg: string;
  tooltipText: string;
}

export function chartPalette(dark: boolean): ChartPalette {
  return dark
    ? { text: "rgba(255, 255, 255, 0.78)", grid: "rgba(255, 255, 255, 0.10)", tooltipBg: "rgba(40, 40, 48, 0.96)", tooltipText: "#f2f2f5" }
    : { text: "rgba(31, 34, 37, 0.78)", grid: "rgba(0, 0, 0, 0.07)", tooltipBg: "rgba(255, 255, 255, 0.97)", tooltipText: "#1f2225" };
}

/** The tooltip's colours in a palette. */
export function tooltipColors(p: ChartPalette) {
  return { backgroundColor: p.tooltipBg, titleColor: p.tooltipText, bodyColor: p.tooltipText, borderColor: p.grid, borderWidth: 1 };
}

/** `rgba(r, g, b, a)` with another alpha (the area under a line). */
export function withAlpha(color: string, alpha: number): string {
  const m = /rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)/.exec(color);
  return m ? `rgba(${m[1]}, ${m[2]}, ${m[3]}, ${alpha})` : color;
}

/** An hour label of the chart in the user's language ("14:00"). */
export function hourLabel(iso: string, locale: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hour12: false });
}
