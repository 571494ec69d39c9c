import { PluginError, type CrmConnector, type Customer, type PluginContext, type PluginConfig, type ServiceRecord, type Vehicle } from '../../core/sdk/index.js';
import { PROVIDER, SalesforceClient, isObject, soqlLikePrefix, soqlString, type SalesforceCredentials } from './client.js';
import { resolveServiceHistory, serviceHistorySoql, toServiceRecord, type SalesforceServiceHistoryMapping } from './service-history.js';

/** Where vehicles live: a custom object (default `Vehicle__c`) or `Asset`, with the field names of that org. */
export interface SalesforceVehicleMapping {
  object?: string;
  contactField?: string;
  vinField?: string;
  yearField?: string;
  makeField?: string;
  modelField?: string;
  mileageField?: string;
}

export interface SalesforceSettings {
  vehicles?: SalesforceVehicleMapping;
  /** Where service history lives (WorkOrder by default); see service-history.ts. */
  serviceHistory?: SalesforceServiceHistoryMapping;
  /** Share of the org's daily API limit (Sforce-Limit-Info) above which call logging pauses (default 0.9). */
  apiUsageCeiling?: number;
  timeoutMs?: number;
}

export const DEFAULT_VEHICLES: Required<SalesforceVehicleMapping> = {
  object: 'Vehicle__c', contactField: 'Contact__c', vinField: 'VIN__c', yearField: 'Year__c', makeField: 'Make__c', modelField: 'Model__c', mileageField: 'Mileage__c',
};

const CONTACT_FIELDS = 'Id, FirstName, LastName, Phone, MobilePhone, Email, MailingPostalCode, Description';
const ID = /^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$/;
const MAX_PAGES = 5;

interface QueryPage { totalSize: number; done: boolean; nextRecordsUrl?: string; records: Array<Record<string, unknown>> }

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() && Number.isFinite(Number(v)) ? Number(v) : undefined);

/** Stored phones vary ("(408) 555-0123", "408.555.0123", "+1 408…"); core wants E.164 (NANP assumed for 10 digits). */
export function toE164(raw: unknown): string | undefined {
  const s = str(raw);
  if (!s) return undefined;
  const d = s.replace(/\D/g, '');
  if (s.startsWith('+') && d.length >= 8 && d.length <= 15) return `+${d}`;
  if (d.length === 10) return `+1${d}`;
  if (d.length === 11 && d.startsWith('1')) return `+${d}`;
  return undefined;
}

function toCustomer(r: Record<string, unknown>): Customer {
  const phone = toE164(r.Phone) ?? toE164(r.MobilePhone);
  return {
    id: String(r.Id),
    firstName: str(r.FirstName) ?? '',
    lastName: str(r.LastName) ?? '',
    ...(phone ? { phone } : {}),
    ...(str(r.Email) ? { email: str(r.Email) } : {}),
    ...(str(r.MailingPostalCode) ? { zip: str(r.MailingPostalCode) } : {}),
    ...(str(r.Description) ? { notes: str(r.Description)!.slice(0, 2000) } : {}),
  };
}

const OUTCOME_DISPOSITION: Record<string, string> = {
  booked: 'Booked service', cancelled: 'Cancelled appointment', rescheduled: 'Rescheduled appointment', info: 'Information given',
  transferred: 'Transferred to staff', callback: 'Callback requested', voicemail: 'Voicemail', other: 'Other',
};

/**
 * Salesforce as the dealership's CRM. Object model: customers are Contacts; vehicles are records of the
 * configured object (custom `Vehicle__c` by default, or `Asset`) linked by a Contact lookup; service history is
 * the completed records of the configured object (`WorkOrder` by default, or a custom one); a call is a
 * completed Task (`TaskSubtype` Call, `CallType` Inbound, duration, disposition) whose `CallObject` holds our
 * call id, which makes logging idempotent.
 */
export function createSalesforceCrm(ctx: PluginContext, config: PluginConfig<SalesforceSettings, SalesforceCredentials>): CrmConnector {
  const settings = config.settings ?? {};
  const client = new SalesforceClient(ctx, { credentials: config.credentials, timeoutMs: settings.timeoutMs ?? 4000 });
  const vm = { ...DEFAULT_VEHICLES, ...settings.vehicles };
  const ceiling = settings.apiUsageCeiling ?? 0.9;
  const history = resolveServiceHistory(settings.serviceHistory);

  /** SOQL, following nextRecordsUrl until `limit` rows or the end; a page budget overrun throws (never a partial list). */
  async function query(soql: string, o: { limit: number; signal?: AbortSignal; op: string }): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    let page = await client.request<QueryPage>({ method: 'GET', path: `/query?q=${encodeURIComponent(soql)}`, signal: o.signal, op: o.op });
    for (let n = 1; ; n++) {
      out.push(...(page.records ?? []));
      if (out.length >= o.limit || page.done || !page.nextRecordsUrl) return out.slice(0, o.limit);
      if (n >= MAX_PAGES) throw new PluginError('upstream', `salesforce ${o.op}: more pages than the budget allows`, { provider: PROVIDER });
      page = await client.request<QueryPage>({ method: 'GET', path: page.nextRecordsUrl, signal: o.signal, op: o.op });
    }
  }

  async function getCustomer(o: { id: string; signal?: AbortSignal }): Promise<Customer | null> {
    o.signal?.throwIfAborted();
    if (!ID.test(o.id)) return null;
    const rows = await query(`SELECT ${CONTACT_FIELDS} FROM Contact WHERE Id = ${soqlString(o.id)} LIMIT 1`, { limit: 1, signal: o.signal, op: 'get contact' });
    return rows[0] ? toCustomer(rows[0]) : null;
  }

  function toVehicle(r: Record<string, unknown>): Vehicle {
    return {
      id: String(r.Id), customerId: String(r[vm.contactField] ?? ''),
      ...(str(r[vm.vinField]) ? { vin: str(r[vm.vinField])!.toUpperCase() } : {}),
      ...(num(r[vm.yearField]) !== undefined ? { year: Math.trunc(num(r[vm.yearField])!) } : {}),
      ...(str(r[vm.makeField]) ? { make: str(r[vm.makeField]) } : {}),
      ...(str(r[vm.modelField]) ? { model: str(r[vm.modelField]) } : {}),
      ...(num(r[vm.mileageField]) !== undefined ? { mileage: Math.trunc(num(r[vm.mileageField])!) } : {}),
    };
  }

  return {
    async findCustomers(o) {
      o.signal?.throwIfAborted();
      const limit = Math.min(Math.max(o.limit ?? 10, 1), 50);
      if (o.phone) {
        // SOSL over phone fields matches on digits whatever the stored format; SOQL equality would not.
        const d = o.phone.replace(/\D/g, '');
        const key = d.length === 11 && d.startsWith('1') ? d.slice(1) : d;
        const res = await client.request<{ searchRecords?: Array<Record<string, unknown>> } | Array<Record<string, unknown>>>({
          method: 'GET', path: `/search?q=${encodeURIComponent(`FIND {${key}} IN PHONE FIELDS RETURNING Contact(${CONTACT_FIELDS})`)}`, signal: o.signal, op: 'search contacts by phone',
        });
        // Old API versions answer a bare array.
        const rows = Array.isArray(res) ? res : res?.searchRecords ?? [];
        return rows.filter(isObject)
          .filter((r) => toE164(r.Phone) === o.phone || toE164(r.MobilePhone) === o.phone)
          .map(toCustomer).slice(0, limit);
      }
      if (o.lastName) {
        const where = `LastName = ${soqlString(o.lastName)}${o.firstName ? ` AND FirstName = ${soqlString(o.firstName)}` : ''}`;
        const rows = await query(`SELECT ${CONTACT_FIELDS} FROM Contact WHERE ${where} ORDER BY LastName LIMIT ${limit}`, { limit, signal: o.signal, op: 'find contacts by last name' });
        return rows.map(toCustomer);
      }
      if (o.name) {
        const p = soqlLikePrefix(o.name.trim());
        const rows = await query(`SELECT ${CONTACT_FIELDS} FROM Contact WHERE FirstName LIKE ${p} OR LastName LIKE ${p} ORDER BY LastName LIMIT ${limit}`, { limit, signal: o.signal, op: 'find contacts by name' });
        return rows.map(toCustomer);
      }
      return [];
    },

    getCustomer,

    async createCustomer(o) {
      o.signal?.throwIfAborted();
      const fields = {
        FirstName: o.firstName, LastName: o.lastName,
        ...(o.phone ? { Phone: o.phone } : {}), ...(o.email ? { Email: o.email } : {}), ...(o.zip ? { MailingPostalCode: o.zip } : {}),
      };
      const r = await client.request<{ id?: string }>({ method: 'POST', path: '/sobjects/Contact', body: fields, signal: o.signal, op: 'create contact' });
      if (!r?.id) throw new PluginError('upstream', 'salesforce create contact returned no id', { provider: PROVIDER });
      return toCustomer({ Id: r.id, ...fields });
    },

    async listVehicles(o) {
      o.signal?.throwIfAborted();
      if (!ID.test(o.customerId)) return [];
      const fields = ['Id', vm.contactField, vm.vinField, vm.yearField, vm.makeField, vm.modelField, vm.mileageField];
      const rows = await query(`SELECT ${[...new Set(fields)].join(', ')} FROM ${vm.object} WHERE ${vm.contactField} = ${soqlString(o.customerId)} LIMIT 50`, { limit: 50, signal: o.signal, op: 'list vehicles' });
      return rows.map(toVehicle);
    },

    async addVehicle(o) {
      o.signal?.throwIfAborted();
      const fields: Record<string, unknown> = { [vm.contactField]: o.customerId };
      if (o.vin) fields[vm.vinField] = o.vin;
      if (o.year !== undefined) fields[vm.yearField] = o.year;
      if (o.make) fields[vm.makeField] = o.make;
      if (o.model) fields[vm.modelField] = o.model;
      if (o.mileage !== undefined) fields[vm.mileageField] = o.mileage;
      if (vm.object === 'Asset') fields.Name = [o.year, o.make, o.model].filter(Boolean).join(' ') || o.vin || 'Vehicle';
      const r = await client.request<{ id?: string }>({ method: 'POST', path: `/sobjects/${vm.object}`, body: fields, signal: o.signal, op: 'create vehicle' });
      if (!r?.id) throw new PluginError('upstream', 'salesforce create vehicle returned no id', { provider: PROVIDER });
      return toVehicle({ Id: r.id, ...fields });
    },

    async getServiceHistory(o): Promise<ServiceRecord[]> {
      o.signal?.throwIfAborted();
      // An unknown id shape is "no such customer" (as getCustomer answers), not a query Salesforce would refuse.
      if (!history || !ID.test(o.customerId) || (o.vehicleId !== undefined && !ID.test(o.vehicleId))) return [];
      const limit = Math.min(Math.max(o.limit ?? 10, 1), 50);
      const rows = await query(serviceHistorySoql(history, { customerId: o.customerId, vehicleId: o.vehicleId, limit }), { limit, signal: o.signal, op: 'service history' });
      return rows.map((r) => toServiceRecord(history, r)).filter((r): r is ServiceRecord => r !== null);
    },

    async logInteraction(o) {
      o.signal?.throwIfAborted();
      if (client.apiUsage >= ceiling) {
        // Call logs can wait (the job retries); live-call lookups must keep the remaining daily budget.
        throw new PluginError('rate_limit', `salesforce API usage at ${Math.round(client.apiUsage * 100)}% of the daily limit; call logging paused`, { provider: PROVIDER });
      }
      const existing = await query(`SELECT Id FROM Task WHERE CallObject = ${soqlString(o.callId)} LIMIT 1`, { limit: 1, signal: o.signal, op: 'find call task' });
      if (existing[0]) return { externalId: String(existing[0].Id) };
      const r = await client.request<{ id?: string }>({
        method: 'POST', path: '/sobjects/Task', signal: o.signal, op: 'create call task',
        body: {
          Subject: 'Call with the voice agent', WhoId: o.customerId, Status: 'Completed', ActivityDate: o.startedAt.slice(0, 10),
          TaskSubtype: 'Call', CallType: 'Inbound', CallDurationInSeconds: Math.round(o.durationMs / 1000),
          CallDisposition: OUTCOME_DISPOSITION[o.outcome] ?? 'Other', CallObject: o.callId, Description: o.summary.slice(0, 32000),
        },
      });
      if (!r?.id) throw new PluginError('upstream', 'salesforce create task returned no id', { provider: PROVIDER });
      return { externalId: r.id };
    },
  };
}
