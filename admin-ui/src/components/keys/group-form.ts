// Pure logic of the group forms: channel defaults, upstream parsing,
// header-rule normalisation, JSON field parsing, and the validation that turns the form into the
// body of `POST /api/groups` / `PUT /api/groups/:id` (the same rules the server applies, so a
// person sees the problem next to the field before anything is sent).
import type { ConfigOption, ConfigValue, Group, GroupPayload, HeaderRule, Upstream } from "@/api/groups";
import { splitProxyKeys } from "@/proxy-keys";

/** An error shown next to a field: an i18n key under `keys.` and its parameters. */
export interface FieldError {
  key: string;
  params?: Record<string, string | number>;
}

/** Errors by field path: `name`, `upstreams`, `upstreams.0.url`, `headers.1.key`, `config.2.value`, … */
export type FormErrors = Record<string, FieldError>;

export type BuildResult = { ok: true; payload: GroupPayload } | { ok: false; errors: FormErrors };

export interface UpstreamRow {
  url: string;
  weight: number | null;
}

export interface HeaderRow {
  key: string;
  value: string;
  remove: boolean;
}

export interface ConfigRow {
  key: string;
  value: ConfigValue | null;
}

/** The fields every group has, standard or aggregate. */
export interface GroupBasics {
  name: string;
  display_name: string;
  channel_type: string;
  sort: number | null;
  proxy_keys: string;
  description: string;
  /** Off: the group's requests get 503 and aggregate groups skip it. */
  enabled: boolean;
}

export interface GroupFormModel extends GroupBasics {
  test_model: string;
  validation_endpoint: string;
  upstreams: UpstreamRow[];
  config: ConfigRow[];
  headers: HeaderRow[];
  model_redirect_strict: boolean;
  model_redirect_rules: string;
  param_overrides: string;
}

/** The `config` keys only aggregate groups act on: how they choose and change sub-groups. */
export const AGGREGATE_ROUTING_KEYS = ["sub_group_failover", "model_aware_routing"] as const;
export type RoutingKey = (typeof AGGREGATE_ROUTING_KEYS)[number];

/** The catalogue defaults, used while the system values (config-options) are not loaded. */
const ROUTING_DEFAULTS: Record<RoutingKey, boolean> = { sub_group_failover: true, model_aware_routing: false };

/**
 * An aggregate group has the basic fields and its routing overrides (null: the system setting
 * applies); its members are edited apart.
 */
export interface AggregateFormModel extends GroupBasics {
  routing: Record<RoutingKey, boolean | null>;
  /** Other stored overrides of the group, sent back unchanged. */
  otherConfig: Record<string, ConfigValue>;
}

export const NAME_PATTERN = /^[a-z0-9_-]{1,100}$/;
export const AGGREGATE_CHANNELS = ["openai", "openai-response", "gemini", "anthropic"] as const;

interface ChannelDefaults {
  testModel: string;
  upstream: string;
  validationEndpoint: string;
}

const CHANNEL_DEFAULTS: Record<string, ChannelDefaults> = {
  openai: { testModel: "gpt-4.1-nano", upstream: "https://api.openai.com", validationEndpoint: "/v1/chat/completions" },
  "openai-response": { testModel: "gpt-4.1-nano", upstream: "https://api.openai.com", validationEndpoint: "/v1/responses" },
  gemini: { testModel: "gemini-2.0-flash-lite", upstream: "https://generativelanguage.googleapis.com", validationEndpoint: "/v1beta/models" },
  anthropic: { testModel: "claude-3-haiku-20240307", upstream: "https://api.anthropic.com", validationEndpoint: "/v1/messages" },
};

/** Test model, first upstream and validation path a new group of `channel` starts with. */
export function channelDefaults(channel: string): ChannelDefaults {
  return CHANNEL_DEFAULTS[channel] ?? { testModel: "", upstream: "", validationEndpoint: "" };
}

/** The test path is not used by Gemini's native validation, so the form hides it. */
export function hasTestPath(channel: string): boolean {
  return channel !== "gemini";
}

export function emptyGroupForm(channel = "openai"): GroupFormModel {
  const d = channelDefaults(channel);
  return {
    name: "", display_name: "", channel_type: channel, sort: 1, test_model: d.testModel, validation_endpoint: "",
    proxy_keys: "", description: "", enabled: true, upstreams: [{ url: d.upstream, weight: 1 }], config: [], headers: [],
    model_redirect_strict: false, model_redirect_rules: "", param_overrides: "",
  };
}

export function emptyAggregateForm(channel = "openai"): AggregateFormModel {
  return {
    name: "", display_name: "", channel_type: channel, sort: 1, proxy_keys: "", description: "", enabled: true,
    routing: { sub_group_failover: null, model_aware_routing: null }, otherConfig: {},
  };
}

/**
 * In create mode a channel change replaces the test model and first upstream URL when they still
 * hold the previous channel's defaults (or are empty); anything the user typed stays.
 */
export function applyChannelChange(form: GroupFormModel, previous: string, next: string): void {
  const before = channelDefaults(previous);
  const after = channelDefaults(next);
  if (form.test_model.trim() === "" || form.test_model === before.testModel) form.test_model = after.testModel;
  const first = form.upstreams[0];
  if (first && (first.url.trim() === "" || first.url === before.upstream)) first.url = after.upstream;
}

// ---- upstreams -------------------------------------------------------------------------------

/** Rows of the stored `upstreams` value (anything unexpected is skipped); at least one row. */
export function parseUpstreams(value: unknown): UpstreamRow[] {
  const rows: UpstreamRow[] = [];
  if (Array.isArray(value)) {
    for (const entry of value) {
      if (entry && typeof entry === "object" && typeof (entry as Upstream).url === "string") {
        const w = Number((entry as Upstream).weight);
        rows.push({ url: (entry as Upstream).url, weight: Number.isFinite(w) ? w : 1 });
      }
    }
  }
  return rows.length ? rows : [{ url: "", weight: 1 }];
}

function isHttpUrl(url: string): boolean {
  if (!/^https?:\/\//.test(url)) return false;
  try {
    return new URL(url).hostname !== "";
  } catch {
    return false;
  }
}

/** The upstreams to send (rows with an empty URL dropped), or the errors of the rows. */
export function validateUpstreams(rows: UpstreamRow[]): { upstreams: Upstream[]; errors: FormErrors } {
  const errors: FormErrors = {};
  const upstreams: Upstream[] = [];
  rows.forEach((row, i) => {
    const url = row.url.trim();
    if (url === "") return;
    if (!/^https?:\/\//.test(url)) errors[`upstreams.${i}.url`] = { key: "validation.upstreamScheme" };
    else if (!isHttpUrl(url)) errors[`upstreams.${i}.url`] = { key: "validation.upstreamInvalid" };
    const w = row.weight;
    if (w === null || !Number.isInteger(w) || w < 0) errors[`upstreams.${i}.weight`] = { key: "validation.weightInvalid" };
    upstreams.push({ url, weight: w ?? 0 });
  });
  if (upstreams.length === 0) errors.upstreams = { key: "validation.upstreamRequired" };
  else if (!Object.keys(errors).length && !upstreams.some((u) => u.weight > 0)) errors.upstreams = { key: "validation.weightPositive" };
  return { upstreams, errors };
}

// ---- header rules ----------------------------------------------------------------------------

/** `x-foo-bar` → `X-Foo-Bar` (the canonical form the server stores). */
export function canonicalHeader(key: string): string {
  return key
    .trim()
    .split("-")
    .map((p) => (p ? p[0].toUpperCase() + p.slice(1).toLowerCase() : ""))
    .join("-");
}

/** Variables a header value may contain; the proxy substitutes them per request. */
export const HEADER_VARIABLES = ["${CLIENT_IP}", "${GROUP_NAME}", "${API_KEY}", "${TIMESTAMP_MS}", "${TIMESTAMP_S}"];

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Header rules to send: keys trimmed and canonical, empty keys dropped, duplicates (any case) and bad names flagged. */
export function normalizeHeaderRules(rows: HeaderRow[]): { rules: HeaderRule[]; errors: FormErrors } {
  const errors: FormErrors = {};
  const rules: HeaderRule[] = [];
  const seen = new Set<string>();
  rows.forEach((row, i) => {
    const trimmed = row.key.trim();
    if (trimmed === "") return;
    const key = canonicalHeader(trimmed);
    if (!HEADER_TOKEN.test(key)) {
      errors[`headers.${i}.key`] = { key: "validation.headerInvalid", params: { name: trimmed } };
      return;
    }
    if (seen.has(key.toLowerCase())) {
      errors[`headers.${i}.key`] = { key: "validation.headerDuplicate", params: { name: key } };
      return;
    }
    seen.add(key.toLowerCase());
    rules.push(row.remove ? { key, value: "", action: "remove" } : { key, value: row.value, action: "set" });
  });
  return { rules, errors };
}

/** Rows of the stored `header_rules`. */
export function headerRowsOf(rules: unknown): HeaderRow[] {
  if (!Array.isArray(rules)) return [];
  return rules
    .filter((r): r is HeaderRule => !!r && typeof r === "object" && typeof (r as HeaderRule).key === "string")
    .map((r) => ({ key: r.key, value: typeof r.value === "string" ? r.value : "", remove: r.action === "remove" }));
}

// ---- JSON fields -----------------------------------------------------------------------------

/** A JSON object typed in a textarea (blank → `{}`), or the error to show. */
export function parseJsonObject(text: string): { value: Record<string, unknown> } | { error: FieldError } {
  if (text.trim() === "") return { value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { error: { key: "validation.jsonSyntax", params: { detail: (e as Error).message } } };
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { error: { key: "validation.jsonObject" } };
  return { value: parsed as Record<string, unknown> };
}

/** Model redirect rules: an object of non-empty source → non-empty target strings. */
export function parseRedirectRules(text: string): { value: Record<string, string> } | { error: FieldError } {
  const res = parseJsonObject(text);
  if ("error" in res) return res;
  const out: Record<string, string> = {};
  for (const [from, to] of Object.entries(res.value)) {
    if (from.trim() === "" || typeof to !== "string" || to.trim() === "") {
      return { error: { key: "validation.redirectRules" } };
    }
    out[from.trim()] = to.trim();
  }
  return { value: out };
}

/** An object as the pretty JSON a textarea shows (`""` when empty). */
export function jsonText(value: unknown): string {
  if (!value || typeof value !== "object" || Object.keys(value).length === 0) return "";
  return JSON.stringify(value, null, 2);
}

// ---- group config overrides ------------------------------------------------------------------

export type ConfigKind = "number" | "boolean" | "string";

/** The editor a setting gets, from the type of its current system value. */
export function configKind(option: ConfigOption | undefined): ConfigKind {
  const v = option?.default_value;
  if (typeof v === "number") return "number";
  if (typeof v === "boolean") return "boolean";
  return "string";
}

function isRoutingKey(key: string): key is RoutingKey {
  return (AGGREGATE_ROUTING_KEYS as readonly string[]).includes(key);
}

/** The settings a standard group's form offers: all but the aggregate routing ones (they do nothing there). */
export function standardConfigOptions(options: ConfigOption[]): ConfigOption[] {
  return options.filter((o) => !isRoutingKey(o.key));
}

function asBool(v: unknown): boolean | null {
  if (v === true || v === "true") return true;
  if (v === false || v === "false") return false;
  return null;
}

/** The system value of a routing setting (config-options), or the catalogue default. */
export function routingSystemValue(key: RoutingKey, options: ConfigOption[]): boolean {
  return asBool(options.find((o) => o.key === key)?.default_value) ?? ROUTING_DEFAULTS[key];
}

/** What an aggregate does for a routing setting: its own override, else the system value. */
export function effectiveRouting(config: Record<string, ConfigValue> | null | undefined, key: RoutingKey, options: ConfigOption[]): { value: boolean; overridden: boolean } {
  const own = asBool(config?.[key]);
  return own === null ? { value: routingSystemValue(key, options), overridden: false } : { value: own, overridden: true };
}

/**
 * The override a routing switch leaves when set to `value`: none when that is the system value and
 * the group did not override the setting before (so only changes are written); a stored override
 * stays, as a standard group's config row does, until "use the system setting" removes it.
 */
export function routingOverride(value: boolean, systemValue: boolean, stored: boolean): boolean | null {
  return !stored && value === systemValue ? null : value;
}

/** Overrides to send: rows without a key dropped, numbers integral and ≥ 0, duplicates flagged. */
export function validateConfigRows(rows: ConfigRow[], options: ConfigOption[]): { config: Record<string, ConfigValue>; errors: FormErrors } {
  const errors: FormErrors = {};
  const config: Record<string, ConfigValue> = {};
  rows.forEach((row, i) => {
    if (!row.key) return;
    if (row.key in config) {
      errors[`config.${i}.key`] = { key: "validation.configDuplicate" };
      return;
    }
    const option = options.find((o) => o.key === row.key);
    switch (configKind(option)) {
      case "number": {
        const n = typeof row.value === "string" ? Number(row.value.trim()) : row.value;
        if (typeof n !== "number" || row.value === "" || !Number.isInteger(n) || n < 0) {
          errors[`config.${i}.value`] = { key: "validation.configInteger" };
          return;
        }
        config[row.key] = n;
        break;
      }
      case "boolean":
        config[row.key] = row.value === true || row.value === "true";
        break;
      default:
        config[row.key] = row.value === null ? "" : String(row.value).trim();
    }
  });
  return { config, errors };
}

/** Rows of a stored `config` map, in the order of the options. */
export function configRowsOf(config: Record<string, ConfigValue> | null | undefined, options: ConfigOption[]): ConfigRow[] {
  const entries = Object.entries(config ?? {});
  const rank = (k: string) => {
    const i = options.findIndex((o) => o.key === k);
    return i < 0 ? options.length : i;
  };
  return entries.sort(([a], [b]) => rank(a) - rank(b)).map(([key, value]) => ({ key, value }));
}

// ---- whole forms -----------------------------------------------------------------------------

/** The name rule of the server: 1–100 of `a-z`, `0-9`, `_`, `-` (after trimming). */
export function validateGroupName(name: string): FieldError | null {
  const n = name.trim();
  if (n === "") return { key: "validation.nameRequired" };
  if (!NAME_PATTERN.test(n)) return { key: "validation.namePattern" };
  return null;
}

function validateSort(sort: number | null): FieldError | null {
  return sort === null || !Number.isInteger(sort) || sort < 0 ? { key: "validation.sortInvalid" } : null;
}

/** A validation path: empty (channel default) or starting with `/`, not a full URL. */
export function validateTestPath(path: string): FieldError | null {
  const p = path.trim();
  return p === "" || (p.startsWith("/") && !p.includes("://")) ? null : { key: "validation.testPath" };
}

/** The form model of an existing group. */
export function formFromGroup(g: Group, options: ConfigOption[]): GroupFormModel {
  return {
    ...basicsFromGroup(g), test_model: g.test_model, validation_endpoint: g.validation_endpoint,
    upstreams: parseUpstreams(g.upstreams), config: configRowsOf(g.config, options), headers: headerRowsOf(g.header_rules),
    model_redirect_strict: g.model_redirect_strict, model_redirect_rules: jsonText(g.model_redirect_rules),
    param_overrides: jsonText(g.param_overrides),
  };
}

/** The basic fields of an existing group. */
function basicsFromGroup(g: Group): GroupBasics {
  return {
    name: g.name, display_name: g.display_name, channel_type: g.channel_type, sort: g.sort, proxy_keys: g.proxy_keys, description: g.description,
    enabled: g.enabled !== false,
  };
}

/** The form model of an existing aggregate group: basic fields and routing overrides. */
export function aggregateFormFromGroup(g: Group): AggregateFormModel {
  const routing: AggregateFormModel["routing"] = { sub_group_failover: null, model_aware_routing: null };
  const otherConfig: Record<string, ConfigValue> = {};
  for (const [key, value] of Object.entries(g.config ?? {})) {
    if (isRoutingKey(key)) routing[key] = asBool(value);
    else otherConfig[key] = value;
  }
  return { ...basicsFromGroup(g), routing, otherConfig };
}

/** The errors of the basic fields: name, channel and sort. */
function validateBasics(form: GroupBasics): FormErrors {
  const errors: FormErrors = {};
  const nameError = validateGroupName(form.name);
  if (nameError) errors.name = nameError;
  if (!form.channel_type) errors.channel_type = { key: "validation.channelRequired" };
  const sortError = validateSort(form.sort);
  if (sortError) errors.sort = sortError;
  return errors;
}

/** The basic fields of the body to send, trimmed (once `validateBasics` found nothing). */
function basicsPayload(form: GroupBasics, groupType: GroupPayload["group_type"]) {
  return {
    name: form.name.trim(),
    display_name: form.display_name.trim(),
    description: form.description.trim(),
    group_type: groupType,
    channel_type: form.channel_type,
    sort: form.sort as number,
    proxy_keys: splitProxyKeys(form.proxy_keys).join(","),
    enabled: form.enabled,
  };
}

/** Validates a standard group form and builds the body to send. */
export function buildGroupPayload(form: GroupFormModel, options: ConfigOption[]): BuildResult {
  const errors = validateBasics(form);
  if (form.test_model.trim() === "") errors.test_model = { key: "validation.testModelRequired" };
  const showPath = hasTestPath(form.channel_type);
  if (showPath) {
    const pathError = validateTestPath(form.validation_endpoint);
    if (pathError) errors.validation_endpoint = pathError;
  }
  const ups = validateUpstreams(form.upstreams);
  const headers = normalizeHeaderRules(form.headers);
  const config = validateConfigRows(form.config, options);
  Object.assign(errors, ups.errors, headers.errors, config.errors);
  const redirects = parseRedirectRules(form.model_redirect_rules);
  if ("error" in redirects) errors.model_redirect_rules = redirects.error;
  const overrides = parseJsonObject(form.param_overrides);
  if ("error" in overrides) errors.param_overrides = overrides.error;
  if (Object.keys(errors).length || "error" in redirects || "error" in overrides) return { ok: false, errors };
  return {
    ok: true,
    payload: {
      ...basicsPayload(form, "standard"),
      test_model: form.test_model.trim(),
      validation_endpoint: showPath ? form.validation_endpoint.trim() : "",
      upstreams: ups.upstreams,
      config: config.config,
      header_rules: headers.rules,
      model_redirect_strict: form.model_redirect_strict,
      model_redirect_rules: redirects.value,
      param_overrides: overrides.value,
    },
  };
}

/** Validates an aggregate group form and builds the body to send. */
export function buildAggregatePayload(form: AggregateFormModel): BuildResult {
  const errors = validateBasics(form);
  if (Object.keys(errors).length) return { ok: false, errors };
  const config: Record<string, ConfigValue> = { ...form.otherConfig };
  for (const key of AGGREGATE_ROUTING_KEYS) {
    const v = form.routing[key];
    if (v !== null) config[key] = v;
  }
  return { ok: true, payload: { ...basicsPayload(form, "aggregate"), config } };
}
