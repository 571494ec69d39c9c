/**
 * Loopback fake of the Twenty CRM core REST API (`/rest/*`) and the metadata listing a connector
 * uses for schema discovery, following crm-and-vehicle-apis.md §1 (checklist §1.11). Parsers
 * mirror the upstream REST input parsers (filter, order_by, limit, depth, path) so the exact
 * strings a connector sends are judged the way the real server judges them.
 *
 * One fake = one workspace. Start two fakes for two tenants.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { getCountries, getCountryCallingCode, parsePhoneNumberWithError, type CountryCode } from 'libphonenumber-js';
import {
  FaultInjector,
  HttpBodyError,
  applyTransportFault,
  bearerToken,
  bodyForRecord,
  parseJsonBody,
  readBody,
  recordRequest,
  requestUrl,
  sendJson,
  sleep,
  startLoopbackServer,
  type DownMode,
  type FaultMatch,
  type RecordedRequest,
} from './http-util.js';

// --------------------------------------------------------------------------------------------
// Public types
// --------------------------------------------------------------------------------------------

export type TwentyFieldType =
  | 'UUID'
  | 'TEXT'
  | 'NUMBER'
  | 'BOOLEAN'
  | 'DATE_TIME'
  | 'DATE'
  | 'SELECT'
  | 'MULTI_SELECT'
  | 'POSITION'
  | 'RAW_JSON'
  | 'ARRAY'
  | 'FULL_NAME'
  | 'EMAILS'
  | 'PHONES'
  | 'LINKS'
  | 'ACTOR'
  | 'RICH_TEXT'
  | 'RICH_TEXT_V2'
  | 'CURRENCY'
  | 'ADDRESS';

/** A field of a custom object. A `RELATION` field `owner` → `person` stores its foreign key in `ownerId`. */
export interface TwentyCustomFieldDef {
  name: string;
  type: TwentyFieldType | 'RELATION';
  label?: string;
  /** SELECT / MULTI_SELECT allowed values. */
  options?: string[];
  defaultValue?: unknown;
  /** For RELATION: target object's nameSingular (many-to-one). */
  relationTo?: string;
  /** For RELATION: name of the one-to-many field added to the target (default: this object's namePlural). */
  inverseName?: string;
}

export interface TwentyCustomObjectDef {
  nameSingular: string;
  namePlural: string;
  labelSingular?: string;
  labelPlural?: string;
  fields?: TwentyCustomFieldDef[];
}

/** Convenience definition of the `vehicles` custom object ServiceLane expects (vin, make, model, year, mileage, owner → person). */
export const TWENTY_VEHICLE_OBJECT: TwentyCustomObjectDef = {
  nameSingular: 'vehicle',
  namePlural: 'vehicles',
  labelSingular: 'Vehicle',
  labelPlural: 'Vehicles',
  fields: [
    { name: 'vin', type: 'TEXT', label: 'VIN' },
    { name: 'make', type: 'TEXT', label: 'Make' },
    { name: 'model', type: 'TEXT', label: 'Model' },
    { name: 'year', type: 'NUMBER', label: 'Year' },
    { name: 'mileage', type: 'NUMBER', label: 'Mileage' },
    { name: 'owner', type: 'RELATION', label: 'Owner', relationTo: 'person', inverseName: 'vehicles' },
  ],
};

export interface TwentyRateLimitWindow {
  limit: number;
  ttlMs: number;
}

export interface TwentyRateLimit {
  /** Default Twenty self-hosted: 100 per 1000 ms. */
  short?: TwentyRateLimitWindow;
  /** Default Twenty self-hosted: 100 per 60000 ms. */
  long?: TwentyRateLimitWindow;
}

export interface FakeTwentyOptions {
  /** Valid API keys (Bearer). Default `['twenty-test-key']`. */
  apiKeys?: string[];
  /** Keys that exist but are past their expiry (401 `Token has expired.`). */
  expiredApiKeys?: string[];
  /** Actor name recorded in `createdBy.name` for API-key writes. Default 'ServiceLane'. */
  apiKeyName?: string;
  /** 'target' (≥1.17, default): noteTarget.targetPersonId…; 'legacy': noteTarget.personId… Same for taskTarget. */
  noteTargetStyle?: 'target' | 'legacy';
  /** 'bodyV2' (default): note/task `bodyV2 {blocknote, markdown}` (task also keeps deprecated TEXT `body`); 'body': legacy RICH_TEXT string only. */
  bodyField?: 'bodyV2' | 'body';
  /** Custom objects, e.g. `[TWENTY_VEHICLE_OBJECT]`. */
  customObjects?: TwentyCustomObjectDef[];
  /** Default page size (latest Twenty: 60). */
  defaultLimit?: number;
  /** Silent clamp (latest Twenty: 200). */
  maxLimit?: number;
  /** depth when the query has none (latest parser: 0). */
  defaultDepth?: 0 | 1;
  /** Token-bucket limiter on API-key traffic. Default: Twenty's self-hosted defaults. `false` disables. */
  rateLimit?: TwentyRateLimit | false;
  /** GET /rest/metadata/objects envelope: 'legacy' `data.objects` (default) or 'direct' `data: [...]`. */
  metadataFormat?: 'legacy' | 'direct';
  /** Max records per POST /rest/batch/… (docs: 60). */
  maxBatchSize?: number;
  /** Clock (ms) for timestamps and the limiter. Default Date.now. */
  now?: () => number;
}

export type TwentyRecord = Record<string, unknown> & { id: string };

export interface TwentyPersonSeed {
  id?: string;
  firstName?: string;
  lastName?: string;
  /** Any format libphonenumber can parse (E.164 recommended); stored the Twenty way (national + codes). */
  phone?: string;
  email?: string;
  city?: string;
  jobTitle?: string;
  companyId?: string | null;
  /** Extra raw fields merged into the create body. */
  extra?: Record<string, unknown>;
}

export interface FakeTwenty {
  /** `http://127.0.0.1:<port>`; the API lives under `url + '/rest/'`. */
  readonly url: string;
  /** Every request (method, path, decoded query, parsed body), auth failures included. */
  readonly requests: RecordedRequest[];
  /** Creates a record through the same validation/normalisation as POST (no auth, no limiter, not recorded). `raw: true` stores fields verbatim (legacy/imported data). */
  seed(namePlural: string, body: Record<string, unknown>, opts?: { raw?: boolean }): TwentyRecord;
  seedPerson(p: TwentyPersonSeed): TwentyRecord;
  seedCompany(c: { id?: string; name: string; domain?: string }): TwentyRecord;
  /** Depth-0 copies of stored records (soft-deleted excluded unless asked). */
  records(namePlural: string, opts?: { includeDeleted?: boolean }): TwentyRecord[];
  record(namePlural: string, id: string): TwentyRecord | undefined;
  addApiKey(key: string): void;
  /** Key becomes expired: 401 `Token has expired.`. */
  expireApiKey(key: string): void;
  /** Key disappears: 401 `Token invalid.`. */
  revokeApiKey(key: string): void;
  /** Replace the limiter (buckets restart full); `false` disables. */
  setRateLimit(cfg: TwentyRateLimit | false): void;
  /** 'error' → `status` (default 503) in Twenty's envelope; 'timeout' hangs; 'reset' drops the socket. */
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  /** Next `n` matching requests answer `status` in Twenty's envelope (429 → the limiter's message). */
  failNext(n: number, status: number, opts?: { body?: unknown; match?: FaultMatch }): void;
  hangNext(n: number, match?: FaultMatch): void;
  /** Delay before every answer (e.g. 2500 to prove the voice loop does not wait on the CRM). */
  setLatency(ms: number): void;
  readonly faults: FaultInjector;
  clearRequests(): void;
  close(): Promise<void>;
}

// --------------------------------------------------------------------------------------------
// Errors
// --------------------------------------------------------------------------------------------

class TwentyError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
  body(): unknown {
    return { statusCode: this.status, error: this.error, messages: [this.message] };
  }
}

const bad = (message: string): never => {
  throw new TwentyError(400, 'BadRequestException', message);
};
const notFound = (): never => {
  throw new TwentyError(404, 'NotFoundException', 'Record not found');
};

function defaultErrorFor(status: number, limitMessage: string): unknown {
  const [error, message] = ((): [string, string] => {
    switch (status) {
      case 400:
        return ['BadRequestException', 'Bad Request'];
      case 401:
        return ['UNAUTHENTICATED', 'Token invalid.'];
      case 403:
        return ['FORBIDDEN_EXCEPTION', 'Missing authentication token'];
      case 404:
        return ['NotFoundException', 'Record not found'];
      case 429:
        return ['HttpException', limitMessage];
      case 500:
        return ['InternalServerErrorException', 'Internal server error'];
      case 503:
        return ['ServiceUnavailableException', 'Service Unavailable'];
      default:
        return ['HttpException', `Http Exception ${status}`];
    }
  })();
  return { statusCode: status, error, messages: [message] };
}

// --------------------------------------------------------------------------------------------
// Schema
// --------------------------------------------------------------------------------------------

type Relation =
  | { kind: 'MANY_TO_ONE'; target: string; joinColumn: string; morph?: boolean }
  | { kind: 'ONE_TO_MANY'; source: string; sourceJoinColumn: string };

interface FieldDef {
  id: string;
  name: string;
  label: string;
  type: TwentyFieldType | 'RELATION' | 'MORPH_RELATION';
  isCustom: boolean;
  isSystem: boolean;
  isNullable: boolean;
  options?: string[];
  defaultValue?: unknown;
  relation?: Relation;
}

interface ObjectDef {
  id: string;
  nameSingular: string;
  namePlural: string;
  labelSingular: string;
  labelPlural: string;
  isCustom: boolean;
  fields: FieldDef[];
}

const COMPOSITE_SUBFIELDS: Partial<Record<TwentyFieldType, Record<string, 'text' | 'json' | 'number'>>> = {
  FULL_NAME: { firstName: 'text', lastName: 'text' },
  EMAILS: { primaryEmail: 'text', additionalEmails: 'json' },
  PHONES: { primaryPhoneNumber: 'text', primaryPhoneCountryCode: 'text', primaryPhoneCallingCode: 'text', additionalPhones: 'json' },
  LINKS: { primaryLinkUrl: 'text', primaryLinkLabel: 'text', secondaryLinks: 'json' },
  ACTOR: { source: 'text', workspaceMemberId: 'text', name: 'text', context: 'json' },
  RICH_TEXT_V2: { blocknote: 'text', markdown: 'text' },
  CURRENCY: { amountMicros: 'number', currencyCode: 'text' },
  ADDRESS: {
    addressStreet1: 'text',
    addressStreet2: 'text',
    addressCity: 'text',
    addressState: 'text',
    addressPostcode: 'text',
    addressCountry: 'text',
    addressLat: 'number',
    addressLng: 'number',
  },
};

function compositeDefault(type: TwentyFieldType): Record<string, unknown> | undefined {
  switch (type) {
    case 'FULL_NAME':
      return { firstName: '', lastName: '' };
    case 'EMAILS':
      return { primaryEmail: '', additionalEmails: null };
    case 'PHONES':
      return { primaryPhoneNumber: '', primaryPhoneCountryCode: '', primaryPhoneCallingCode: '', additionalPhones: null };
    case 'LINKS':
      return { primaryLinkUrl: '', primaryLinkLabel: '', secondaryLinks: null };
    case 'ACTOR':
      return { source: 'MANUAL', workspaceMemberId: null, name: '', context: {} };
    case 'RICH_TEXT_V2':
      return { blocknote: null, markdown: null };
    case 'CURRENCY':
      return { amountMicros: null, currencyCode: '' };
    case 'ADDRESS':
      return {
        addressStreet1: '',
        addressStreet2: '',
        addressCity: '',
        addressState: '',
        addressPostcode: '',
        addressCountry: '',
        addressLat: null,
        addressLng: null,
      };
    default:
      return undefined;
  }
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function buildSchema(opts: FakeTwentyOptions): Map<string, ObjectDef> {
  const targetStyle = opts.noteTargetStyle ?? 'target';
  const bodyField = opts.bodyField ?? 'bodyV2';
  const objects = new Map<string, ObjectDef>(); // by nameSingular

  const f = (name: string, type: FieldDef['type'], extra: Partial<FieldDef> = {}): FieldDef => ({
    id: randomUUID(),
    name,
    label: capitalize(name),
    type,
    isCustom: false,
    isSystem: false,
    isNullable: true,
    ...extra,
  });
  const system = (): FieldDef[] => [
    f('id', 'UUID', { isSystem: true, isNullable: false }),
    f('createdAt', 'DATE_TIME', { isSystem: true, isNullable: false }),
    f('updatedAt', 'DATE_TIME', { isSystem: true, isNullable: false }),
    f('deletedAt', 'DATE_TIME', { isSystem: true }),
  ];
  const m2o = (name: string, target: string, morph = false): FieldDef =>
    f(name, morph ? 'MORPH_RELATION' : 'RELATION', { relation: { kind: 'MANY_TO_ONE', target, joinColumn: `${name}Id`, morph } });
  const o2m = (name: string, source: string, sourceJoinColumn: string): FieldDef =>
    f(name, 'RELATION', { relation: { kind: 'ONE_TO_MANY', source, sourceJoinColumn } });
  const add = (o: Omit<ObjectDef, 'id'>): void => {
    objects.set(o.nameSingular, { id: randomUUID(), ...o });
  };
  const targetField = (singular: string): string => (targetStyle === 'target' ? `target${capitalize(singular)}` : singular);
  const actorFields = (): FieldDef[] => [f('position', 'POSITION', { isSystem: true }), f('createdBy', 'ACTOR'), f('updatedBy', 'ACTOR')];
  const bodyFields = (task: boolean): FieldDef[] =>
    bodyField === 'bodyV2' ? [f('bodyV2', 'RICH_TEXT_V2'), ...(task ? [f('body', 'TEXT')] : [])] : [f('body', 'RICH_TEXT')];

  const customs = opts.customObjects ?? [];
  const targetables = ['person', 'company', ...customs.map((c) => c.nameSingular)];

  add({
    nameSingular: 'person',
    namePlural: 'people',
    labelSingular: 'Person',
    labelPlural: 'People',
    isCustom: false,
    fields: [
      ...system(),
      f('name', 'FULL_NAME'),
      f('emails', 'EMAILS'),
      f('phones', 'PHONES'),
      f('linkedinLink', 'LINKS'),
      f('xLink', 'LINKS'),
      f('jobTitle', 'TEXT'),
      f('city', 'TEXT'),
      f('avatarUrl', 'TEXT'),
      ...actorFields(),
      m2o('company', 'company'),
      o2m('noteTargets', 'noteTarget', `${targetField('person')}Id`),
      o2m('taskTargets', 'taskTarget', `${targetField('person')}Id`),
    ],
  });
  add({
    nameSingular: 'company',
    namePlural: 'companies',
    labelSingular: 'Company',
    labelPlural: 'Companies',
    isCustom: false,
    fields: [
      ...system(),
      f('name', 'TEXT'),
      f('domainName', 'LINKS'),
      f('employees', 'NUMBER'),
      f('address', 'ADDRESS'),
      f('linkedinLink', 'LINKS'),
      f('xLink', 'LINKS'),
      f('annualRecurringRevenue', 'CURRENCY'),
      f('idealCustomerProfile', 'BOOLEAN', { defaultValue: false, isNullable: false }),
      ...actorFields(),
      o2m('people', 'person', 'companyId'),
      o2m('noteTargets', 'noteTarget', `${targetField('company')}Id`),
      o2m('taskTargets', 'taskTarget', `${targetField('company')}Id`),
    ],
  });
  add({
    nameSingular: 'note',
    namePlural: 'notes',
    labelSingular: 'Note',
    labelPlural: 'Notes',
    isCustom: false,
    fields: [...system(), f('title', 'TEXT'), ...bodyFields(false), ...actorFields(), o2m('noteTargets', 'noteTarget', 'noteId')],
  });
  add({
    nameSingular: 'task',
    namePlural: 'tasks',
    labelSingular: 'Task',
    labelPlural: 'Tasks',
    isCustom: false,
    fields: [
      ...system(),
      f('title', 'TEXT'),
      ...bodyFields(true),
      f('dueAt', 'DATE_TIME'),
      f('status', 'SELECT', { options: ['TODO', 'IN_PROGRESS', 'DONE'], defaultValue: 'TODO' }),
      f('assigneeId', 'UUID'),
      ...actorFields(),
      o2m('taskTargets', 'taskTarget', 'taskId'),
    ],
  });
  for (const [singular, plural, parent] of [
    ['noteTarget', 'noteTargets', 'note'],
    ['taskTarget', 'taskTargets', 'task'],
  ] as const) {
    add({
      nameSingular: singular,
      namePlural: plural,
      labelSingular: capitalize(singular),
      labelPlural: capitalize(plural),
      isCustom: false,
      fields: [...system(), m2o(parent, parent), ...targetables.map((t) => m2o(targetField(t), t, targetStyle === 'target'))],
    });
  }
  for (const c of customs) {
    const fields: FieldDef[] = [...system(), f('name', 'TEXT', { isCustom: false })];
    for (const cf of c.fields ?? []) {
      if (cf.type === 'RELATION') {
        if (!cf.relationTo) throw new Error(`custom field ${c.nameSingular}.${cf.name}: RELATION needs relationTo`);
        fields.push({ ...m2o(cf.name, cf.relationTo), isCustom: true, label: cf.label ?? capitalize(cf.name) });
      } else {
        fields.push(f(cf.name, cf.type, { isCustom: true, label: cf.label ?? capitalize(cf.name), options: cf.options, defaultValue: cf.defaultValue }));
      }
    }
    fields.push(...actorFields(), o2m('noteTargets', 'noteTarget', `${targetField(c.nameSingular)}Id`), o2m('taskTargets', 'taskTarget', `${targetField(c.nameSingular)}Id`));
    add({
      nameSingular: c.nameSingular,
      namePlural: c.namePlural,
      labelSingular: c.labelSingular ?? capitalize(c.nameSingular),
      labelPlural: c.labelPlural ?? capitalize(c.namePlural),
      isCustom: true,
      fields,
    });
  }
  // Inverse one-to-many fields for custom many-to-one relations (e.g. person.vehicles).
  for (const c of customs) {
    for (const cf of c.fields ?? []) {
      if (cf.type !== 'RELATION' || !cf.relationTo) continue;
      const target = objects.get(cf.relationTo);
      if (!target) throw new Error(`custom field ${c.nameSingular}.${cf.name}: unknown relationTo '${cf.relationTo}'`);
      target.fields.push({ ...o2m(cf.inverseName ?? c.namePlural, c.nameSingular, `${cf.name}Id`), isCustom: true });
    }
  }
  return objects;
}

/** Columns a record stores and a filter may address: plain fields plus many-to-one join columns. */
function columnsOf(o: ObjectDef): Map<string, FieldDef> {
  const cols = new Map<string, FieldDef>();
  for (const fd of o.fields) {
    if (fd.relation?.kind === 'MANY_TO_ONE') cols.set(fd.relation.joinColumn, { ...fd, name: fd.relation.joinColumn, type: 'UUID' });
    else if (!fd.relation) cols.set(fd.name, fd);
  }
  return cols;
}

// --------------------------------------------------------------------------------------------
// Filter parsing (mirrors twenty-server rest input-request-parsers/filter-parser-utils)
// --------------------------------------------------------------------------------------------

const COMPARATORS = ['eq', 'neq', 'in', 'containsAny', 'is', 'gt', 'gte', 'lt', 'lte', 'startsWith', 'endsWith', 'like', 'ilike'] as const;
type Comparator = (typeof COMPARATORS)[number];

/** Parsed `filter` query parameter (what the real server's REST parser builds before validation). */
export type TwentyFilterNode = FilterNode;
type FilterNode =
  | { kind: 'and'; items: FilterNode[] }
  | { kind: 'or'; items: FilterNode[] }
  | { kind: 'not'; item: FilterNode }
  | { kind: 'cond'; path: string[]; comparator: Comparator; value: string | string[] };

const CONJUNCTION_RE = /^(or|and|not)\((.+)\)$/s;

function checkFilterQuery(q: string): void {
  const diff = (q.match(/\(/g) ?? []).length - (q.match(/\)/g) ?? []).length;
  if (diff === 0) return;
  const hint = diff > 0 ? `${diff} close bracket${diff > 1 ? 's are' : ' is'}` : `${-diff} open bracket${-diff > 1 ? 's are' : ' is'}`;
  bad(`'filter' invalid. ${hint} missing in the query`);
}

function splitFilterContent(q: string): string[] {
  let inBrackets = false;
  let inDouble = false;
  let inSingle = false;
  let depth = 0;
  const out: string[] = [];
  let cur = '';
  for (const c of q) {
    let keep = depth >= 1;
    if (c === '(') depth++;
    if (c === ')') {
      depth--;
      keep = depth >= 1;
    }
    if (c === '[' || c === ']') inBrackets = !inBrackets;
    if (c === '"') inDouble = !inDouble;
    if (c === "'") inSingle = !inSingle;
    if (c === ',' && depth === 1 && !inBrackets && !inDouble && !inSingle) {
      out.push(cur);
      cur = '';
      keep = false;
    }
    if (keep) cur += c;
  }
  out.push(cur);
  return out;
}

function stripQuotes(v: string): string {
  if ((v[0] === '"' || v[0] === "'") && (v.endsWith('"') || v.endsWith("'")) && v.length >= 2) return v.slice(1, -1);
  return v;
}

function parseBaseFilter(s: string): FilterNode {
  if (!/^(.+)\[(.+)\]:(.+)$/s.test(s)) bad(`'filter' invalid for '${s}'. eg: price[gte]:10`);
  let fields = '';
  let comparator = '';
  let value = '';
  let fillFields = true;
  let fillComparator = false;
  let fillValue = false;
  for (const c of s) {
    if (fillValue) value += c;
    if (c === ']' && !fillValue) fillComparator = false;
    if (c === ':' && !fillComparator) fillValue = true;
    if (fillComparator) comparator += c;
    if (c === '[' && fillFields) {
      fillFields = false;
      fillComparator = true;
    }
    if (fillFields) fields += c;
  }
  if (!(COMPARATORS as readonly string[]).includes(comparator)) {
    bad(`'filter' invalid for '${s}', comparator ${comparator} not in ${COMPARATORS.join(', ')}`);
  }
  const cmp = comparator as Comparator;
  let parsed: string | string[];
  if (cmp === 'in' || cmp === 'containsAny') {
    if (value[0] !== '[' || value[value.length - 1] !== ']') {
      bad(`'filter' invalid for '${cmp}' operator. Received '${value}' but array value expected eg: 'field[${cmp}]:[value_1,value_2]'`);
    }
    parsed = value.slice(1, -1).split(',').map(stripQuotes);
  } else if (cmp === 'is') {
    parsed = value;
  } else {
    parsed = stripQuotes(value);
  }
  return { kind: 'cond', path: fields.split('.'), comparator: cmp, value: parsed };
}

function parseFilterString(q: string): FilterNode {
  const m = CONJUNCTION_RE.exec(q);
  if (m) {
    const conj = m[1] as 'and' | 'or' | 'not';
    const items = splitFilterContent(q).map(parseFilterString);
    if (conj === 'not') {
      if (items.length > 1) bad(`'filter' invalid. 'not' conjunction should contain only 1 condition. eg: not(field[eq]:1)`);
      return { kind: 'not', item: items[0]! };
    }
    return conj === 'and' ? { kind: 'and', items } : { kind: 'or', items };
  }
  return parseBaseFilter(q);
}

/** Parses a decoded `filter` string exactly as the fake server does (throws on a 400-worthy filter). */
export function parseTwentyFilter(q: string): FilterNode {
  checkFilterQuery(q);
  const wrapped = CONJUNCTION_RE.test(q) ? q : `and(${q})`;
  return parseFilterString(wrapped);
}

function filterMentions(node: FilterNode, field: string): boolean {
  if (node.kind === 'cond') return node.path[0] === field;
  if (node.kind === 'not') return filterMentions(node.item, field);
  return node.items.some((i) => filterMentions(i, field));
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function likeToRegExp(pattern: string, flags: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, `s${flags}`);
}

// --------------------------------------------------------------------------------------------
// Phones (mirrors twenty-server record-transformer/utils/transform-phones-value.util.ts)
// --------------------------------------------------------------------------------------------

const COUNTRIES = new Set<string>(getCountries());

function countriesForCallingCode(callingCode: string): string[] {
  const digits = callingCode.replace(/\+/g, '');
  return getCountries().filter((c) => getCountryCallingCode(c) === digits);
}

interface PhoneParts {
  number?: string;
  countryCode?: string;
  callingCode?: string;
}

function validateAndInferPhone(p: PhoneParts): PhoneParts {
  const { callingCode, countryCode, number } = p;
  if (countryCode && !COUNTRIES.has(countryCode)) bad(`Invalid country code ${countryCode}`);
  if (callingCode) {
    const expected = countriesForCallingCode(callingCode);
    if (expected.length === 0) bad(`Invalid calling code ${callingCode}`);
    if (countryCode && !expected.includes(countryCode)) bad('Provided country code and calling code are conflicting');
  }
  if (!number) return { callingCode, countryCode, number };
  let phone;
  try {
    phone = parsePhoneNumberWithError(number, {
      defaultCallingCode: callingCode ? callingCode.replace(/\+/g, '') : undefined,
      defaultCountry: countryCode ? (countryCode as CountryCode) : undefined,
    });
  } catch {
    return bad(`Provided phone number is invalid ${number}`);
  }
  if (phone.country && countryCode && phone.country !== countryCode) bad('Provided and inferred country code are conflicting');
  if (phone.countryCallingCode && callingCode && phone.countryCallingCode !== callingCode.replace(/\+/g, '')) {
    bad('Provided and inferred calling code are conflicting');
  }
  return {
    countryCode: countryCode ?? phone.country,
    callingCode: callingCode ?? `+${phone.countryCallingCode}`,
    number: phone.nationalNumber,
  };
}

function optString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(`Invalid value for ${what}: expected a string`);
  return v as string;
}

function transformPhones(input: Record<string, unknown>): Record<string, unknown> {
  const primary = validateAndInferPhone({
    number: optString(input.primaryPhoneNumber, 'phones.primaryPhoneNumber'),
    countryCode: optString(input.primaryPhoneCountryCode, 'phones.primaryPhoneCountryCode'),
    callingCode: optString(input.primaryPhoneCallingCode, 'phones.primaryPhoneCallingCode'),
  });
  let additional: unknown[] = [];
  const rawAdditional = input.additionalPhones;
  if (typeof rawAdditional === 'string' && rawAdditional !== '') {
    try {
      const parsed = JSON.parse(rawAdditional) as unknown;
      additional = Array.isArray(parsed) ? parsed : [];
    } catch {
      additional = [];
    }
  } else if (Array.isArray(rawAdditional)) additional = rawAdditional;
  const validated = additional.map((a) => {
    const o = isPlainObject(a) ? a : {};
    const r = validateAndInferPhone({
      number: optString(o.number, 'additionalPhones.number'),
      countryCode: optString(o.countryCode, 'additionalPhones.countryCode'),
      callingCode: optString(o.callingCode, 'additionalPhones.callingCode'),
    });
    return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
  });
  const out: Record<string, unknown> = {};
  // Only keys the caller touched are written; the rest keep their stored value, like Twenty's per-column update.
  if ('additionalPhones' in input) out.additionalPhones = validated.length === 0 ? null : validated;
  if (primary.number !== undefined) out.primaryPhoneNumber = primary.number;
  if (primary.countryCode !== undefined) out.primaryPhoneCountryCode = primary.countryCode;
  if (primary.callingCode !== undefined) out.primaryPhoneCallingCode = primary.callingCode;
  return out;
}

// --------------------------------------------------------------------------------------------
// Misc helpers
// --------------------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A minimal BlockNote document for markdown text, enough for a UI to render and a connector to read back. */
function markdownToBlocknote(markdown: string): string {
  return JSON.stringify(
    markdown.split('\n').map((line) => ({
      id: randomUUID(),
      type: 'paragraph',
      props: { textColor: 'default', backgroundColor: 'default', textAlignment: 'left' },
      content: line === '' ? [] : [{ type: 'text', text: line, styles: {} }],
      children: [],
    })),
  );
}

function blocknoteToMarkdown(blocknote: string): string {
  try {
    const blocks = JSON.parse(blocknote) as unknown;
    if (!Array.isArray(blocks)) return '';
    return blocks
      .map((b: unknown) => {
        if (!isPlainObject(b) || !Array.isArray(b.content)) return '';
        return b.content.map((c: unknown) => (isPlainObject(c) && typeof c.text === 'string' ? c.text : '')).join('');
      })
      .join('\n');
  } catch {
    return bad('Invalid blocknote JSON');
  }
}

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly limit: number,
    readonly ttlMs: number,
    private readonly now: () => number,
  ) {
    this.tokens = limit;
    this.last = now();
  }
  tryConsume(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit, this.tokens + ((t - this.last) * this.limit) / this.ttlMs);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  get message(): string {
    return `Limit reached (${this.limit} tokens per ${this.ttlMs} ms)`;
  }
}

const DEFAULT_RATE: Required<TwentyRateLimit> = { short: { limit: 100, ttlMs: 1000 }, long: { limit: 100, ttlMs: 60000 } };

// --------------------------------------------------------------------------------------------
// The server
// --------------------------------------------------------------------------------------------

type Row = Record<string, unknown> & { id: string; deletedAt: string | null };

export async function startFakeTwenty(opts: FakeTwentyOptions = {}): Promise<FakeTwenty> {
  const now = opts.now ?? Date.now;
  const schema = buildSchema(opts);
  const byPlural = new Map<string, ObjectDef>([...schema.values()].map((o) => [o.namePlural, o]));
  const tables = new Map<string, Map<string, Row>>([...schema.values()].map((o) => [o.nameSingular, new Map()]));
  const validKeys = new Set(opts.apiKeys ?? ['twenty-test-key']);
  const expiredKeys = new Set(opts.expiredApiKeys ?? []);
  const actorName = opts.apiKeyName ?? 'ServiceLane';
  const defaultLimit = opts.defaultLimit ?? 60;
  const maxLimit = opts.maxLimit ?? 200;
  const defaultDepth = opts.defaultDepth ?? 0;
  const maxBatch = opts.maxBatchSize ?? 60;
  const requests: RecordedRequest[] = [];
  const faults = new FaultInjector();
  let buckets: TokenBucket[] = [];
  let positionCounter = 0;

  function setRateLimit(cfg: TwentyRateLimit | false): void {
    if (cfg === false) {
      buckets = [];
      return;
    }
    const s = cfg.short ?? DEFAULT_RATE.short;
    const l = cfg.long ?? DEFAULT_RATE.long;
    buckets = [new TokenBucket(s.limit, s.ttlMs, now), new TokenBucket(l.limit, l.ttlMs, now)];
  }
  setRateLimit(opts.rateLimit === undefined ? DEFAULT_RATE : opts.rateLimit);
  const limitMessage = (): string => (buckets[1] ?? buckets[0])?.message ?? 'Limit reached (100 tokens per 60000 ms)';

  const table = (o: ObjectDef): Map<string, Row> => tables.get(o.nameSingular)!;
  const iso = (ms = now()): string => new Date(ms).toISOString();

  // ---------------- record shaping ----------------

  function shape(o: ObjectDef, row: Row, depth: 0 | 1): TwentyRecord {
    const out: TwentyRecord = { id: row.id };
    for (const fd of o.fields) {
      if (fd.relation?.kind === 'MANY_TO_ONE') {
        const fk = row[fd.relation.joinColumn] ?? null;
        if (depth === 1) {
          const target = schema.get(fd.relation.target)!;
          const tr = typeof fk === 'string' ? table(target).get(fk) : undefined;
          out[fd.name] = tr && tr.deletedAt === null ? shape(target, tr, 0) : null;
        }
        out[fd.relation.joinColumn] = fk;
      } else if (fd.relation?.kind === 'ONE_TO_MANY') {
        if (depth === 1) {
          const source = schema.get(fd.relation.source)!;
          const col = fd.relation.sourceJoinColumn;
          out[fd.name] = [...table(source).values()].filter((r) => r.deletedAt === null && r[col] === row.id).map((r) => shape(source, r, 0));
        }
      } else if (fd.name !== 'id') {
        out[fd.name] = structuredClone(row[fd.name] ?? null);
      }
    }
    return out;
  }

  // ---------------- write normalisation ----------------

  function normaliseValue(o: ObjectDef, fd: FieldDef, value: unknown, existing: unknown): unknown {
    const where = `${o.nameSingular}.${fd.name}`;
    if (value === null) {
      const def = compositeDefault(fd.type as TwentyFieldType);
      if (def) return def;
      if (!fd.isNullable) bad(`null value in column "${fd.name}" of relation "${o.nameSingular}" violates not-null constraint`);
      return null;
    }
    switch (fd.type) {
      case 'TEXT':
      case 'RICH_TEXT':
        if (typeof value === 'number' || typeof value === 'boolean') return String(value);
        if (typeof value !== 'string') bad(`Invalid value for field "${fd.name}": expected a string`);
        return value;
      case 'UUID':
        if (typeof value !== 'string' || !UUID_RE.test(value)) bad(`invalid input syntax for type uuid: "${String(value)}"`);
        return value;
      case 'NUMBER':
      case 'POSITION': {
        const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
        if (Number.isNaN(n)) bad(`invalid input syntax for type double precision: "${String(value)}"`);
        return n;
      }
      case 'BOOLEAN':
        if (typeof value !== 'boolean') bad(`invalid input syntax for type boolean: "${String(value)}"`);
        return value;
      case 'DATE_TIME':
      case 'DATE': {
        const ms = typeof value === 'string' ? Date.parse(value) : NaN;
        if (Number.isNaN(ms)) bad(`invalid input syntax for type timestamp with time zone: "${String(value)}"`);
        return fd.type === 'DATE' ? (value as string).slice(0, 10) : iso(ms);
      }
      case 'SELECT':
        if (typeof value !== 'string' || !(fd.options ?? []).includes(value)) {
          bad(`invalid input value for enum ${o.nameSingular}_${fd.name}_enum: "${String(value)}"`);
        }
        return value;
      case 'MULTI_SELECT':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !(fd.options ?? []).includes(v))) {
          bad(`invalid input value for enum ${o.nameSingular}_${fd.name}_enum: "${JSON.stringify(value)}"`);
        }
        return value;
      case 'ARRAY':
        if (!Array.isArray(value)) bad(`Invalid value for field "${fd.name}": expected an array`);
        return value;
      case 'RAW_JSON':
        return structuredClone(value);
      default:
        break;
    }
    const subs = COMPOSITE_SUBFIELDS[fd.type as TwentyFieldType];
    if (!subs) bad(`Field "${fd.name}" cannot be written`);
    if (!isPlainObject(value)) bad(`Invalid value for composite field "${where}": expected an object`);
    const input = value as Record<string, unknown>;
    for (const k of Object.keys(input)) {
      if (!(k in subs!)) bad(`Invalid sub-field "${k}" for composite field "${where}"`);
    }
    const base = isPlainObject(existing) ? { ...existing } : compositeDefault(fd.type as TwentyFieldType)!;
    let patch: Record<string, unknown> = { ...input };
    if (fd.type === 'PHONES') patch = transformPhones(input);
    if (fd.type === 'RICH_TEXT_V2') {
      const md = optString(input.markdown, `${where}.markdown`);
      const bn = optString(input.blocknote, `${where}.blocknote`);
      if (md !== undefined && bn === undefined) patch.blocknote = markdownToBlocknote(md);
      if (bn !== undefined && md === undefined) patch.markdown = blocknoteToMarkdown(bn);
    }
    for (const [k, kind] of Object.entries(subs!)) {
      const v = patch[k];
      if (v === undefined || v === null) continue;
      if (kind === 'text' && typeof v !== 'string') bad(`Invalid value for "${where}.${k}": expected a string`);
      if (kind === 'number' && typeof v !== 'number') bad(`Invalid value for "${where}.${k}": expected a number`);
    }
    return { ...base, ...patch };
  }

  function applyWrite(o: ObjectDef, input: unknown, existing: Row | undefined, raw = false): Row {
    if (!isPlainObject(input)) bad('Body must be a JSON object');
    const body = input as Record<string, unknown>;
    const t = iso();
    const cols = columnsOf(o);
    const row: Row = existing
      ? { ...structuredClone(existing), updatedAt: t }
      : ({ id: '', createdAt: t, updatedAt: t, deletedAt: null } as Row);
    if (!existing) {
      for (const [name, fd] of cols) {
        if (['id', 'createdAt', 'updatedAt', 'deletedAt'].includes(name)) continue;
        const comp = compositeDefault(fd.type as TwentyFieldType);
        row[name] = comp ?? fd.defaultValue ?? (fd.type === 'TEXT' ? '' : null);
      }
      row.position = positionCounter++;
      const actor = { source: 'API', workspaceMemberId: null, name: actorName, context: {} };
      if ('createdBy' in row) row.createdBy = { ...actor };
      if ('updatedBy' in row) row.updatedBy = { ...actor };
    } else if ('updatedBy' in row) {
      row.updatedBy = { source: 'API', workspaceMemberId: null, name: actorName, context: {} };
    }
    for (const [key, value] of Object.entries(body)) {
      if (value === undefined) continue;
      if (key === 'id') {
        if (existing) continue;
        if (typeof value !== 'string' || !UUID_RE.test(value)) bad(`invalid input syntax for type uuid: "${String(value)}"`);
        row.id = value as string;
        continue;
      }
      if (key === 'updatedAt' || key === 'deletedAt') continue;
      const fd = cols.get(key);
      if (!fd) {
        const rel = o.fields.find((x) => x.name === key && x.relation);
        if (rel) bad(`Relation field "${key}" cannot be written directly on ${o.nameSingular}; use its foreign key`);
        bad(`Object '${o.nameSingular}' doesn't have any "${key}" field.`);
      }
      if (raw) {
        row[key] = isPlainObject(value) && isPlainObject(row[key]) ? { ...(row[key] as object), ...value } : structuredClone(value);
        continue;
      }
      row[key] = normaliseValue(o, fd!, value, row[key]);
      const rel = o.fields.find((x) => x.relation?.kind === 'MANY_TO_ONE' && x.relation.joinColumn === key);
      if (rel?.relation?.kind === 'MANY_TO_ONE' && typeof row[key] === 'string') {
        const target = schema.get(rel.relation.target)!;
        if (!table(target).has(row[key] as string)) {
          bad(`insert or update on table "${o.nameSingular}" violates foreign key constraint "FK_${o.nameSingular}_${key}"`);
        }
      }
    }
    if (!existing) {
      if (row.id === '') row.id = randomUUID();
      if (table(o).has(row.id)) bad('Record already exists');
    }
    if (o.nameSingular === 'person' && !raw) {
      const email = (row.emails as Record<string, unknown> | undefined)?.primaryEmail;
      if (typeof email === 'string' && email !== '') {
        for (const other of table(o).values()) {
          if (other.id !== row.id && other.deletedAt === null && (other.emails as Record<string, unknown>).primaryEmail === email) {
            bad('A duplicate entry was detected');
          }
        }
      }
    }
    return row;
  }

  // ---------------- reading ----------------

  function compareScalar(a: unknown, b: unknown): number {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
    const sa = String(a);
    const sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  }

  function resolvePath(o: ObjectDef, path: string[], forOrder: boolean): { fd: FieldDef; sub?: string; subKind?: 'text' | 'json' | 'number' } {
    const cols = columnsOf(o);
    const head = path[0] ?? '';
    const fd = cols.get(head);
    if (!fd) bad(`field '${head}' does not exist in '${o.nameSingular}' object`);
    const subs = COMPOSITE_SUBFIELDS[fd!.type as TwentyFieldType];
    if (subs) {
      if (path.length < 2) {
        bad(forOrder ? `'order_by' invalid: composite field '${head}' needs a sub-field, eg: ${head}.${Object.keys(subs)[0]}[AscNullsFirst]` : `'filter' invalid: composite field '${head}' needs a sub-field, eg: ${head}.${Object.keys(subs)[0]}[eq]:value`);
      }
      const sub = path[1]!;
      if (!(sub in subs) || path.length > 2) bad(`field '${path.join('.')}' does not exist in '${o.nameSingular}' object`);
      return { fd: fd!, sub, subKind: subs[sub] };
    }
    if (path.length > 1) bad(`field '${path.join('.')}' does not exist in '${o.nameSingular}' object`);
    return { fd: fd! };
  }

  function valueAt(row: Row, fd: FieldDef, sub: string | undefined): unknown {
    const v = row[fd.name];
    if (sub === undefined) return v ?? null;
    return isPlainObject(v) ? (v[sub] ?? null) : null;
  }

  /** Validates a filter against the schema up front, so errors surface even when no row exists. */
  function compileFilter(o: ObjectDef, node: FilterNode): (row: Row) => boolean {
    if (node.kind === 'and' || node.kind === 'or') {
      const parts = node.items.map((n) => compileFilter(o, n));
      return node.kind === 'and' ? (r) => parts.every((p) => p(r)) : (r) => parts.some((p) => p(r));
    }
    if (node.kind === 'not') {
      const inner = compileFilter(o, node.item);
      return (r) => !inner(r);
    }
    const { fd, sub, subKind } = resolvePath(o, node.path, false);
    const type = sub ? (subKind === 'number' ? 'NUMBER' : subKind === 'json' ? 'RAW_JSON' : 'TEXT') : fd.type;
    const cmp = node.comparator;
    const coerce = (v: string): unknown => {
      if (type === 'NUMBER' || type === 'POSITION') {
        const n = parseFloat(v);
        if (Number.isNaN(n)) bad(`invalid input syntax for type double precision: "${v}"`);
        return n;
      }
      if (type === 'BOOLEAN') return v.toLowerCase() === 'true';
      if (type === 'UUID' && ['eq', 'neq', 'in'].includes(cmp) && !UUID_RE.test(v)) bad(`invalid input syntax for type uuid: "${v}"`);
      if ((type === 'DATE_TIME' || type === 'DATE') && ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in'].includes(cmp)) {
        const ms = Date.parse(v);
        if (Number.isNaN(ms)) bad(`invalid input syntax for type timestamp with time zone: "${v}"`);
        return ms;
      }
      if (type === 'SELECT' && ['eq', 'neq', 'in'].includes(cmp) && !(fd.options ?? []).includes(v)) {
        bad(`invalid input value for enum ${o.nameSingular}_${fd.name}_enum: "${v}"`);
      }
      return v;
    };
    const read = (r: Row): unknown => {
      const v = valueAt(r, fd, sub);
      if (v === null) return null;
      if ((type === 'DATE_TIME' || type === 'DATE') && typeof v === 'string') return Date.parse(v);
      if (type === 'RAW_JSON' && typeof v !== 'string') return JSON.stringify(v);
      return v;
    };
    if (cmp === 'is') {
      const val = node.value as string;
      if (val !== 'NULL' && val !== 'NOT_NULL') bad(`'filter' invalid for 'is' operator. Received '${val}' but NULL or NOT_NULL expected`);
      return (r) => (read(r) === null) === (val === 'NULL');
    }
    if (cmp === 'in') {
      const vals = (node.value as string[]).map(coerce);
      return (r) => {
        const v = read(r);
        return v !== null && vals.some((x) => compareScalar(v, x) === 0);
      };
    }
    if (cmp === 'containsAny') {
      const vals = node.value as string[];
      return (r) => {
        const v = valueAt(r, fd, sub);
        return Array.isArray(v) && v.some((x) => vals.includes(String(x)));
      };
    }
    const target = node.value as string;
    if (cmp === 'like' || cmp === 'ilike' || cmp === 'startsWith' || cmp === 'endsWith') {
      const pattern = cmp === 'startsWith' ? `${target}%` : cmp === 'endsWith' ? `%${target}` : target;
      const re = likeToRegExp(pattern, cmp === 'like' ? '' : 'i');
      return (r) => {
        const v = read(r);
        return v !== null && re.test(String(v));
      };
    }
    const x = coerce(target);
    return (r) => {
      const v = read(r);
      if (v === null) return false; // SQL: comparisons with NULL are never true
      const c = compareScalar(v, x);
      switch (cmp) {
        case 'eq':
          return c === 0;
        case 'neq':
          return c !== 0;
        case 'gt':
          return c > 0;
        case 'gte':
          return c >= 0;
        case 'lt':
          return c < 0;
        default:
          return c <= 0;
      }
    };
  }

  type OrderItem = { path: string[]; dir: 'AscNullsFirst' | 'AscNullsLast' | 'DescNullsFirst' | 'DescNullsLast'; get: (r: Row) => unknown };
  const DIRECTIONS = ['AscNullsFirst', 'AscNullsLast', 'DescNullsFirst', 'DescNullsLast'] as const;

  function parseOrderBy(o: ObjectDef, q: string | null): OrderItem[] {
    const items: OrderItem[] = [];
    if (q !== null) {
      for (const item of q.split(',')) {
        let fieldPart = item;
        let dir: OrderItem['dir'] = 'AscNullsFirst';
        if (item.includes('[') && item.includes(']')) {
          const [name, rest] = item.split('[');
          const d = (rest ?? '').replace(']', '');
          if (!(DIRECTIONS as readonly string[]).includes(d)) {
            bad(`'order_by' direction '${d}' invalid. Allowed values are '${DIRECTIONS.join("', '")}'. eg: ?order_by=field_1[AscNullsFirst],field_2[DescNullsLast],field_3`);
          }
          fieldPart = name ?? '';
          dir = d as OrderItem['dir'];
        }
        const path = fieldPart.split('.');
        const { fd, sub } = resolvePath(o, path, true);
        items.push({ path, dir, get: (r) => valueAt(r, fd, sub) });
      }
    }
    if (!items.some((i) => i.path.length === 1 && i.path[0] === 'id')) items.push({ path: ['id'], dir: 'AscNullsFirst', get: (r) => r.id });
    return items;
  }

  function compareKeys(order: OrderItem[], a: unknown[], b: unknown[]): number {
    for (let i = 0; i < order.length; i++) {
      const { dir } = order[i]!;
      const va = a[i] ?? null;
      const vb = b[i] ?? null;
      if (va === null && vb === null) continue;
      const nullsFirst = dir.endsWith('NullsFirst');
      if (va === null) return nullsFirst ? -1 : 1;
      if (vb === null) return nullsFirst ? 1 : -1;
      const c = compareScalar(va, vb);
      if (c !== 0) return dir.startsWith('Asc') ? c : -c;
    }
    return 0;
  }

  const encodeCursor = (key: unknown[]): string => Buffer.from(JSON.stringify({ k: key })).toString('base64');
  function decodeCursor(c: string, len: number): unknown[] {
    try {
      const parsed = JSON.parse(Buffer.from(c, 'base64').toString('utf8')) as unknown;
      if (isPlainObject(parsed) && Array.isArray(parsed.k) && parsed.k.length === len) return parsed.k;
    } catch {
      /* fall through */
    }
    return bad(`Invalid cursor '${c}'`);
  }

  function parseDepth(q: URLSearchParams): 0 | 1 {
    const raw = q.get('depth');
    if (!raw) return defaultDepth;
    const d = +raw;
    if (Number.isNaN(d) || (d !== 0 && d !== 1)) bad(`'depth=${raw}' parameter invalid. Allowed values are 0, 1`);
    return d as 0 | 1;
  }

  function parseLimit(q: URLSearchParams): number {
    const raw = q.get('limit');
    if (!raw) return defaultLimit;
    const n = +raw;
    if (Number.isNaN(n) || n < 0) bad(`limit '${raw}' is invalid. Should be an integer`);
    return Math.min(Math.floor(n), maxLimit);
  }

  function project(o: ObjectDef, rec: TwentyRecord, fieldsParam: string | null): TwentyRecord {
    if (!fieldsParam) return rec;
    const wanted = fieldsParam.split(',').map((s) => s.trim()).filter(Boolean);
    const known = new Set([...columnsOf(o).keys(), ...o.fields.map((fd) => fd.name)]);
    for (const w of wanted) if (!known.has(w)) bad(`field '${w}' does not exist in '${o.nameSingular}' object`);
    const out: TwentyRecord = { id: rec.id };
    for (const w of wanted) out[w] = rec[w];
    return out;
  }

  function filteredRows(o: ObjectDef, q: URLSearchParams): Row[] {
    const raw = q.get('filter');
    let rows = [...table(o).values()];
    let includeDeleted = false;
    if (raw !== null) {
      const ast = parseTwentyFilter(raw);
      // Twenty returns soft-deleted rows only when the filter explicitly targets deletedAt.
      includeDeleted = filterMentions(ast, 'deletedAt');
      const pred = compileFilter(o, ast);
      rows = rows.filter(pred);
    }
    return includeDeleted ? rows : rows.filter((r) => r.deletedAt === null);
  }

  function findMany(o: ObjectDef, q: URLSearchParams): unknown {
    const depth = parseDepth(q);
    const limit = parseLimit(q);
    const order = parseOrderBy(o, q.get('order_by'));
    const keyOf = (r: Row): unknown[] => order.map((i) => i.get(r) ?? null);
    const rows = filteredRows(o, q).sort((a, b) => compareKeys(order, keyOf(a), keyOf(b)));
    const after = q.get('starting_after');
    const before = q.get('ending_before');
    if (after && before) bad(`'starting_after' and 'ending_before' cannot be used together`);
    let start = 0;
    let end = rows.length;
    if (after) {
      const k = decodeCursor(after, order.length);
      start = rows.findIndex((r) => compareKeys(order, keyOf(r), k) > 0);
      if (start < 0) start = rows.length;
    }
    if (before) {
      const k = decodeCursor(before, order.length);
      const idx = rows.findIndex((r) => compareKeys(order, keyOf(r), k) >= 0);
      end = idx < 0 ? rows.length : idx;
      start = Math.max(0, end - limit);
    } else {
      end = Math.min(rows.length, start + limit);
    }
    const page = rows.slice(start, end);
    const first = page[0];
    const last = page[page.length - 1];
    return {
      data: { [o.namePlural]: page.map((r) => project(o, shape(o, r, depth), q.get('fields'))) },
      totalCount: rows.length,
      pageInfo: {
        hasNextPage: end < rows.length,
        hasPreviousPage: start > 0,
        startCursor: first ? encodeCursor(keyOf(first)) : null,
        endCursor: last ? encodeCursor(keyOf(last)) : null,
      },
    };
  }

  function liveRow(o: ObjectDef, id: string): Row {
    const row = table(o).get(id);
    if (!row || row.deletedAt !== null) notFound();
    return row!;
  }

  // ---------------- metadata ----------------

  function metadataObject(o: ObjectDef): unknown {
    const t = iso(0);
    return {
      id: o.id,
      nameSingular: o.nameSingular,
      namePlural: o.namePlural,
      labelSingular: o.labelSingular,
      labelPlural: o.labelPlural,
      description: null,
      icon: o.isCustom ? 'IconBox' : null,
      isCustom: o.isCustom,
      isRemote: false,
      isActive: true,
      isSystem: ['noteTarget', 'taskTarget'].includes(o.nameSingular),
      createdAt: t,
      updatedAt: t,
      labelIdentifierFieldMetadataId: o.fields.find((fd) => fd.name === 'name' || fd.name === 'title')?.id ?? null,
      imageIdentifierFieldMetadataId: null,
      fields: o.fields.map((fd) => {
        const base: Record<string, unknown> = {
          id: fd.id,
          type: fd.type,
          name: fd.name,
          label: fd.label,
          description: null,
          icon: null,
          isCustom: fd.isCustom,
          isActive: true,
          isSystem: fd.isSystem,
          isNullable: fd.isNullable,
          isUnique: fd.name === 'id' || (o.nameSingular === 'person' && fd.name === 'emails'),
          defaultValue: fd.defaultValue === undefined ? null : fd.defaultValue,
          options: fd.options ? fd.options.map((value, position) => ({ id: randomUUID(), value, label: capitalize(value.toLowerCase().replace(/_/g, ' ')), position, color: 'gray' })) : null,
          settings: null,
          createdAt: t,
          updatedAt: t,
        };
        const rel = fd.relation;
        if (rel?.kind === 'MANY_TO_ONE') {
          const target = schema.get(rel.target)!;
          base.settings = { relationType: 'MANY_TO_ONE', joinColumnName: rel.joinColumn, onDelete: 'SET_NULL' };
          base.relation = {
            type: 'MANY_TO_ONE',
            sourceObjectMetadata: { id: o.id, nameSingular: o.nameSingular, namePlural: o.namePlural },
            targetObjectMetadata: { id: target.id, nameSingular: target.nameSingular, namePlural: target.namePlural },
          };
        } else if (rel?.kind === 'ONE_TO_MANY') {
          const source = schema.get(rel.source)!;
          base.settings = { relationType: 'ONE_TO_MANY' };
          base.relation = {
            type: 'ONE_TO_MANY',
            sourceObjectMetadata: { id: o.id, nameSingular: o.nameSingular, namePlural: o.namePlural },
            targetObjectMetadata: { id: source.id, nameSingular: source.nameSingular, namePlural: source.namePlural },
          };
        }
        return base;
      }),
    };
  }

  function handleMetadata(method: string, segs: string[], res: http.ServerResponse): void {
    if (segs[0] === 'objects' && method === 'GET' && segs.length <= 2) {
      const all = [...schema.values()];
      if (segs.length === 2) {
        const o = all.find((x) => x.id === segs[1]);
        if (!o) throw new TwentyError(404, 'NotFoundException', 'Object does not exist');
        sendJson(res, 200, opts.metadataFormat === 'direct' ? { data: metadataObject(o) } : { data: { object: metadataObject(o) } });
        return;
      }
      const items = all.map(metadataObject);
      const pageInfo = { hasNextPage: false, hasPreviousPage: false, startCursor: items.length ? Buffer.from('0').toString('base64') : null, endCursor: items.length ? Buffer.from(String(items.length - 1)).toString('base64') : null };
      sendJson(res, 200, opts.metadataFormat === 'direct' ? { data: items, pageInfo, totalCount: items.length } : { data: { objects: items }, pageInfo, totalCount: items.length });
      return;
    }
    bad(`Query path '/rest/metadata/${segs.join('/')}' invalid. Valid examples: /rest/metadata/objects or /rest/metadata/fields`);
  }

  // ---------------- core routes ----------------

  function resolveObject(name: string): ObjectDef {
    const o = byPlural.get(name);
    if (o) return o;
    const wrong = schema.get(name);
    return bad(`object '${name}' not found. ${wrong ? `Did you mean '${wrong.namePlural}'?` : 'eg: companies'}`);
  }

  function handleCore(method: string, path: string, q: URLSearchParams, body: () => unknown, res: http.ServerResponse): void {
    const parts = path.replace(/^\/rest/, '').split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    const isRestore = method === 'PATCH' && parts[parts.length - 1] === 'restore';
    const invalidPath = `Query path '${path}' invalid. Valid examples: /rest/companies/id or /rest/companies or /rest/batch/companies`;
    if (parts.length === 0 || parts.length > (isRestore ? 3 : 2)) bad(invalidPath);

    if (parts[0] === 'batch' && parts.length === 2) {
      const o = resolveObject(parts[1]!);
      if (method !== 'POST') bad(invalidPath);
      const input = body();
      if (!Array.isArray(input)) bad('Body must be a JSON array');
      const arr = input as unknown[];
      if (arr.length > maxBatch) bad(`Maximum number of records to create is ${maxBatch}`);
      const depth = parseDepth(q);
      const rows: Row[] = [];
      for (const item of arr) {
        const row = applyWrite(o, item, undefined);
        if (rows.some((r) => r.id === row.id)) bad('Record already exists');
        rows.push(row);
      }
      // All-or-nothing, like the single transaction Twenty runs.
      for (const r of rows) table(o).set(r.id, r);
      sendJson(res, 201, { data: { [`create${capitalize(o.namePlural)}`]: rows.map((r) => shape(o, r, depth)) } });
      return;
    }
    if (isRestore || (parts.length === 2 && ['duplicates', 'groupBy', 'merge'].includes(parts[1]!))) {
      resolveObject(parts[0]!);
      throw new TwentyError(501, 'NotImplementedException', 'Not implemented in the fake Twenty server');
    }
    const o = resolveObject(parts[0]!);
    const id = parts[1];
    if (id !== undefined && !UUID_RE.test(id)) bad(`'${id}' is not a valid UUID`);
    const S = capitalize(o.nameSingular);
    const P = capitalize(o.namePlural);

    if (id === undefined) {
      switch (method) {
        case 'GET':
          sendJson(res, 200, findMany(o, q));
          return;
        case 'POST': {
          const depth = parseDepth(q);
          const input = body();
          if (q.get('upsert') === 'true' && isPlainObject(input)) {
            const match = findUpsertMatch(o, input);
            if (match) {
              const row = applyWrite(o, input, match);
              table(o).set(row.id, row);
              sendJson(res, 200, { data: { [`create${S}`]: shape(o, row, depth) } });
              return;
            }
          }
          const row = applyWrite(o, input, undefined);
          table(o).set(row.id, row);
          sendJson(res, 201, { data: { [`create${S}`]: shape(o, row, depth) } });
          return;
        }
        case 'PATCH': {
          if (q.get('filter') === null) bad('Filters are mandatory for bulk update operations');
          const depth = parseDepth(q);
          const input = body();
          const rows = filteredRows(o, q).map((r) => applyWrite(o, input, r));
          for (const r of rows) table(o).set(r.id, r);
          sendJson(res, 200, { data: { [`update${P}`]: rows.map((r) => shape(o, r, depth)) } });
          return;
        }
        case 'DELETE': {
          const soft = q.get('soft_delete') !== 'false';
          if (q.get('filter') === null) bad(`Filters are mandatory for bulk ${soft ? 'delete' : 'destroy'} operations`);
          const rows = filteredRows(o, q);
          const t = iso();
          const out = rows.map((r) => {
            if (soft) {
              r.deletedAt = t;
              return shape(o, r, 0);
            }
            table(o).delete(r.id);
            return shape(o, r, 0);
          });
          sendJson(res, 200, { data: { [`${soft ? 'delete' : 'destroy'}${P}`]: out } });
          return;
        }
        default:
          bad(invalidPath);
      }
    }
    switch (method) {
      case 'GET': {
        const depth = parseDepth(q);
        sendJson(res, 200, { data: { [o.nameSingular]: project(o, shape(o, liveRow(o, id!), depth), q.get('fields')) } });
        return;
      }
      case 'PATCH':
      case 'PUT': {
        const depth = parseDepth(q);
        const existing = liveRow(o, id!);
        const row = applyWrite(o, body(), existing);
        table(o).set(row.id, row);
        sendJson(res, 200, { data: { [`update${S}`]: shape(o, row, depth) } });
        return;
      }
      case 'DELETE': {
        const row = liveRow(o, id!);
        row.deletedAt = iso();
        row.updatedAt = row.deletedAt;
        sendJson(res, 200, { data: { [`delete${S}`]: shape(o, row, 0) } });
        return;
      }
      default:
        bad(invalidPath);
    }
  }

  function findUpsertMatch(o: ObjectDef, input: Record<string, unknown>): Row | undefined {
    if (typeof input.id === 'string') {
      const r = table(o).get(input.id);
      if (r && r.deletedAt === null) return r;
    }
    if (o.nameSingular === 'person' && isPlainObject(input.emails) && typeof input.emails.primaryEmail === 'string') {
      const email = input.emails.primaryEmail;
      const hits = [...table(o).values()].filter((r) => r.deletedAt === null && (r.emails as Record<string, unknown>).primaryEmail === email);
      if (hits.length > 1) bad('Multiple records found matching the upsert criteria');
      return hits[0];
    }
    return undefined;
  }

  // ---------------- HTTP entry ----------------

  function authenticate(req: http.IncomingMessage): void {
    if (req.headers.authorization === undefined) throw new TwentyError(403, 'FORBIDDEN_EXCEPTION', 'Missing authentication token');
    const token = bearerToken(req);
    if (token !== undefined && expiredKeys.has(token)) throw new TwentyError(401, 'UNAUTHENTICATED', 'Token has expired.');
    if (token === undefined || !validKeys.has(token)) throw new TwentyError(401, 'UNAUTHENTICATED', 'Token invalid.');
  }

  const srv = await startLoopbackServer(async (req, res) => {
    const url = requestUrl(req);
    const method = req.method ?? 'GET';
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof HttpBodyError) {
        sendJson(res, err.status, { statusCode: err.status, error: 'PayloadTooLargeError', messages: [err.message] });
        return;
      }
      throw err;
    }
    requests.push(recordRequest(req, url, raw, bodyForRecord(raw, req.headers['content-type'])));

    const fault = faults.take(method, url.pathname);
    if (fault && applyTransportFault(req, fault)) return;
    if (faults.latency > 0) await sleep(faults.latency);
    if (fault?.kind === 'status') {
      sendJson(res, fault.status, fault.body ?? defaultErrorFor(fault.status, limitMessage()), fault.headers);
      return;
    }
    try {
      if (!url.pathname.startsWith('/rest/') && url.pathname !== '/rest') {
        throw new TwentyError(404, 'NotFoundException', `Cannot ${method} ${url.pathname}`);
      }
      authenticate(req);
      for (const b of buckets) if (!b.tryConsume()) throw new TwentyError(429, 'HttpException', b.message);
      const body = (): unknown => {
        try {
          return parseJsonBody(raw);
        } catch (err) {
          if (err instanceof HttpBodyError) bad(err.message);
          throw err;
        }
      };
      const segs = url.pathname.split('/').filter(Boolean);
      if (segs[1] === 'metadata') handleMetadata(method, segs.slice(2), res);
      else handleCore(method, url.pathname, url.searchParams, body, res);
    } catch (err) {
      if (err instanceof TwentyError) sendJson(res, err.status, err.body());
      else throw err;
    }
  });

  const api: FakeTwenty = {
    url: srv.url,
    requests,
    seed(namePlural, body, o2 = {}) {
      const o = byPlural.get(namePlural);
      if (!o) throw new Error(`fake twenty: unknown object '${namePlural}'`);
      try {
        const row = applyWrite(o, body, undefined, o2.raw === true);
        table(o).set(row.id, row);
        return shape(o, row, 0);
      } catch (err) {
        if (err instanceof TwentyError) throw new Error(`fake twenty seed rejected: ${err.message}`);
        throw err;
      }
    },
    seedPerson(p) {
      const body: Record<string, unknown> = { name: { firstName: p.firstName ?? '', lastName: p.lastName ?? '' } };
      if (p.id) body.id = p.id;
      if (p.phone) body.phones = { primaryPhoneNumber: p.phone };
      if (p.email) body.emails = { primaryEmail: p.email };
      if (p.city !== undefined) body.city = p.city;
      if (p.jobTitle !== undefined) body.jobTitle = p.jobTitle;
      if (p.companyId !== undefined) body.companyId = p.companyId;
      return api.seed('people', { ...body, ...(p.extra ?? {}) });
    },
    seedCompany(c) {
      const body: Record<string, unknown> = { name: c.name };
      if (c.id) body.id = c.id;
      if (c.domain) body.domainName = { primaryLinkUrl: c.domain };
      return api.seed('companies', body);
    },
    records(namePlural, o2 = {}) {
      const o = byPlural.get(namePlural);
      if (!o) throw new Error(`fake twenty: unknown object '${namePlural}'`);
      return [...table(o).values()].filter((r) => o2.includeDeleted || r.deletedAt === null).map((r) => shape(o, r, 0));
    },
    record(namePlural, id) {
      const o = byPlural.get(namePlural);
      if (!o) throw new Error(`fake twenty: unknown object '${namePlural}'`);
      const r = table(o).get(id);
      return r ? shape(o, r, 0) : undefined;
    },
    addApiKey(key) {
      validKeys.add(key);
      expiredKeys.delete(key);
    },
    expireApiKey(key) {
      validKeys.delete(key);
      expiredKeys.add(key);
    },
    revokeApiKey(key) {
      validKeys.delete(key);
      expiredKeys.delete(key);
    },
    setRateLimit,
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    failNext: (n, status, o2) => faults.failNext(n, status, o2),
    hangNext: (n, match) => faults.hangNext(n, match),
    setLatency: (ms) => faults.setLatency(ms),
    faults,
    clearRequests() {
      requests.length = 0;
    },
    close: () => srv.close(),
  };
  return api;
}
