import fs from 'node:fs';
import crypto from 'node:crypto';
import type { ErrorObject } from 'ajv';
import { ServiceLaneError } from '../errors.js';
import { packagePath } from '../paths.js';
import { PLUGIN_KINDS, type PluginKind } from '../sdk/define-plugin.js';
import { createAjv } from '../sdk/json-schema.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export interface Interval { open: string; close: string }
export interface ServiceType { id: string; name: string; durationMin: number; resourceKinds?: ('bay' | 'advisor')[] }
export interface Resource { id: string; name: string; kind: 'bay' | 'advisor' }
export interface PluginSlot { plugin: string; settings?: Record<string, unknown>; credentialsRef?: string; fallback?: string }
/** A tenant config has one slot per plugin kind, named after it: the SDK's list is the one list. */
export type SlotName = PluginKind;
export const SLOT_NAMES: readonly SlotName[] = PLUGIN_KINDS;

/** The typed form of tenants/schema/dealership.schema.json (defaults applied by ajv). */
export interface DealershipConfig {
  name: string;
  timezone: string;
  locale: string;
  languages: string[];
  /** With several `languages`: pick the call's language from the caller's speech too (core/i18n/language-detect.ts). Default true. */
  languageDetection?: boolean;
  businessHours: Partial<Record<Weekday, Interval[]>>;
  holidays: string[];
  slotGranularityMin: number;
  bookingHorizonDays: number;
  serviceTypes: ServiceType[];
  resources: Resource[];
  agent?: {
    persona?: string; greeting?: string; voice?: string; model?: string;
    humanDtmfKey?: string; maxCallSec?: number; silencePromptSec?: number;
    /** TTS voice per call language (core/i18n). */
    voices?: Partial<Record<string, string>>;
    /** Scripted lines and greeting per call language, over the catalogue's defaults (core/i18n/messages.ts). */
    lines?: Partial<Record<string, Partial<Record<string, string>>>>;
  };
  transferNumber?: string;
  reminders?: {
    enabled?: boolean; hoursBefore?: number[]; callWindow?: { start: string; end: string }; voicemail?: boolean;
    retry?: { maxAttempts?: number; intervalMin?: number }; maxConcurrentCalls?: number;
  };
  /** Usage limits (core/usage, docs/usage.md); unset means unlimited. */
  limits?: { maxConcurrentCalls?: number; monthlyMinutes?: number };
  /** Confirmation emails (docs/email.md). */
  emails?: { enabled?: boolean; replyTo?: string; templates?: Partial<Record<'booked' | 'moved' | 'cancelled', EmailTemplate>> };
  /** Inbound voicemail (docs/voicemail.md). */
  voicemail?: { whenClosed?: boolean; maxLengthSec?: number; greeting?: string };
  plugins: Partial<Record<SlotName, PluginSlot>> & { crm: PluginSlot; calendar: PluginSlot };
}

/** One confirmation email's text with `{{placeholders}}` (tenants/schema/dealership.schema.json `emailTemplate`). */
export interface EmailTemplate { subject: string; text: string }

const schemaPath = packagePath('tenants', 'schema', 'dealership.schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;

const ianaZones = new Set(Intl.supportedValuesOf('timeZone'));
ianaZones.add('UTC');

const ajv = createAjv({ allErrors: true, useDefaults: true, strict: true });
ajv.addFormat('iana-timezone', { type: 'string', validate: (s: string) => ianaZones.has(s) });
const validateFn = ajv.compile(schema);

export interface ConfigIssue { path: string; message: string }

export function formatAjvErrors(errors: ErrorObject[] | null | undefined): ConfigIssue[] {
  return (errors ?? []).map((e) => ({
    path: e.instancePath || '/',
    message: e.keyword === 'additionalProperties'
      ? `unknown property "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`
      : e.message ?? 'invalid',
  }));
}

/** Cross-field rules JSON Schema can't say: unique ids, open < close, resources for every service. */
function semanticIssues(c: DealershipConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const dup = (ids: string[], p: string) => ids.forEach((id, i) => { if (ids.indexOf(id) !== i) out.push({ path: `${p}/${i}/id`, message: `duplicate id "${id}"` }); });
  dup(c.serviceTypes.map((s) => s.id), '/serviceTypes');
  dup(c.resources.map((r) => r.id), '/resources');
  for (const [day, ivs] of Object.entries(c.businessHours)) {
    (ivs ?? []).forEach((iv, i) => { if (iv.open >= iv.close) out.push({ path: `/businessHours/${day}/${i}`, message: 'open must be before close' }); });
  }
  c.serviceTypes.forEach((s, i) => {
    const kinds = s.resourceKinds ?? ['bay'];
    if (!c.resources.some((r) => kinds.includes(r.kind))) out.push({ path: `/serviceTypes/${i}/resourceKinds`, message: 'no resource of these kinds exists' });
  });
  return out;
}

/** Validates and returns the config with defaults applied, or throws TEN_ERR_CONFIG_INVALID listing every issue. */
export function parseDealershipConfig(input: unknown): DealershipConfig {
  const copy: unknown = structuredClone(input);
  if (!validateFn(copy)) {
    throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', { errors: formatAjvErrors(validateFn.errors) });
  }
  const cfg = copy as DealershipConfig;
  const issues = semanticIssues(cfg);
  if (issues.length) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', { errors: issues });
  return cfg;
}

/** Stable over key order, so the plugin instance cache isn't invalidated by a re-serialisation. */
export function configHash(value: unknown): string {
  const canon = (v: unknown): unknown => Array.isArray(v) ? v.map(canon)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return crypto.createHash('sha256').update(JSON.stringify(canon(value))).digest('hex').slice(0, 16);
}
