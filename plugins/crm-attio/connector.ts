import { PluginError, type CrmConnector, type Customer, type PluginConfig, type PluginContext, type Vehicle } from '../../core/sdk/index.js';
import { AttioClient, PROVIDER, type AttioCredentials } from './client.js';

export interface AttioSettings {
  /** api_slug of the custom object holding vehicles (default `vehicles`); served only when the workspace has it. */
  vehicleObject?: string;
  /** A text attribute on people holding the ZIP code (used to verify callers). */
  zipAttribute?: string;
  timeoutMs?: number;
}

type Values = Record<string, Array<Record<string, unknown>> | undefined>;
interface AttioRecord { id: { record_id: string }; values: Values }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 50;
const MAX_PAGES = 4;

/** The current value of an attribute: the history entry with `active_until: null` (the latest otherwise). */
function current(values: Values, attr: string): Record<string, unknown> | undefined {
  const list = values[attr] ?? [];
  return list.find((v) => v.active_until === null) ?? list[list.length - 1];
}
const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/**
 * Attio as the dealership's CRM. Customers are `people` records; vehicles a custom object (`vehicles`, with
 * `vin`, `year`, `make`, `model`, `mileage` and an `owner` reference to the person) when the workspace has one;
 * calls are plaintext notes on the person, one per call id (remembered in the plugin store: notes are immutable
 * and have no external id).
 */
export function createAttioCrm(ctx: PluginContext, config: PluginConfig<AttioSettings, AttioCredentials>): CrmConnector {
  const settings = config.settings ?? {};
  const client = new AttioClient(ctx, { credentials: config.credentials, timeoutMs: settings.timeoutMs ?? 4000 });
  const vehicleObject = settings.vehicleObject ?? 'vehicles';
  let hasVehicles: Promise<boolean> | undefined;

  function toCustomer(r: AttioRecord): Customer {
    const name = current(r.values, 'name') ?? {};
    const phone = text(current(r.values, 'phone_numbers')?.normalized_phone_number);
    const email = text(current(r.values, 'email_addresses')?.email_address);
    const zip = settings.zipAttribute ? text(current(r.values, settings.zipAttribute)?.value) : undefined;
    return {
      id: r.id.record_id, firstName: text(name.first_name) ?? '', lastName: text(name.last_name) ?? '',
      ...(phone ? { phone } : {}), ...(email ? { email } : {}), ...(zip ? { zip } : {}),
    };
  }

  /** Pages through a query until `limit` matching rows or the end; a page budget overrun throws. */
  async function query(o: { object: string; filter: unknown; limit: number; keep?: (r: AttioRecord) => boolean; signal?: AbortSignal; op: string }): Promise<AttioRecord[]> {
    const out: AttioRecord[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await client.request<{ data?: AttioRecord[] }>({ method: 'POST', path: `/objects/${o.object}/records/query`, body: { filter: o.filter, limit: PAGE, offset: page * PAGE }, signal: o.signal, op: o.op });
      if (res.status === 404) return [];
      const rows = res.body?.data ?? [];
      out.push(...(o.keep ? rows.filter(o.keep) : rows));
      if (out.length >= o.limit || rows.length < PAGE) return out.slice(0, o.limit);
    }
    throw new PluginError('upstream', `attio ${o.op}: more pages than the budget allows`, { provider: PROVIDER });
  }

  function vehiclesAvailable(signal?: AbortSignal): Promise<boolean> {
    hasVehicles ??= client.request({ method: 'GET', path: `/objects/${vehicleObject}`, signal, op: 'describe vehicles' })
      .then((r) => r.status !== 404, (e: unknown) => { hasVehicles = undefined; throw e; });
    return hasVehicles;
  }

  function toVehicle(r: AttioRecord, customerId: string): Vehicle {
    const n = (a: string) => { const v = current(r.values, a)?.value; return typeof v === 'number' ? Math.trunc(v) : undefined; };
    const vin = text(current(r.values, 'vin')?.value);
    return {
      id: r.id.record_id, customerId,
      ...(vin ? { vin: vin.toUpperCase() } : {}),
      ...(n('year') !== undefined ? { year: n('year') } : {}),
      ...(text(current(r.values, 'make')?.value) ? { make: text(current(r.values, 'make')?.value) } : {}),
      ...(text(current(r.values, 'model')?.value) ? { model: text(current(r.values, 'model')?.value) } : {}),
      ...(n('mileage') !== undefined ? { mileage: n('mileage') } : {}),
    };
  }

  return {
    async findCustomers(o) {
      o.signal?.throwIfAborted();
      const limit = Math.min(Math.max(o.limit ?? 10, 1), 50);
      if (o.phone) {
        const phone = o.phone;
        const rows = await query({ object: 'people', filter: { phone_numbers: phone }, limit, signal: o.signal, op: 'find people by phone',
          keep: (r) => (r.values.phone_numbers ?? []).some((v) => v.active_until === null && v.normalized_phone_number === phone) });
        return rows.map(toCustomer);
      }
      if (o.lastName) {
        // $starts_with, then exact (case-insensitive) equality here: Attio's $eq on text is case-sensitive.
        const last = o.lastName.trim().toLowerCase();
        const first = o.firstName?.trim().toLowerCase();
        const rows = await query({
          object: 'people', filter: { name: { last_name: { $starts_with: o.lastName.trim() } } }, limit, signal: o.signal, op: 'find people by last name',
          keep: (r) => { const c = toCustomer(r); return c.lastName.toLowerCase() === last && (first === undefined || c.firstName.toLowerCase() === first); },
        });
        return rows.map(toCustomer);
      }
      if (o.name) {
        const p = o.name.trim();
        const rows = await query({ object: 'people', filter: { $or: [{ name: { first_name: { $starts_with: p } } }, { name: { last_name: { $starts_with: p } } }] }, limit, signal: o.signal, op: 'find people by name' });
        return rows.map(toCustomer);
      }
      return [];
    },

    async getCustomer(o) {
      o.signal?.throwIfAborted();
      if (!UUID.test(o.id)) return null;
      const r = await client.request<{ data?: AttioRecord }>({ method: 'GET', path: `/objects/people/records/${o.id}`, signal: o.signal, op: 'get person' });
      return r.body?.data ? toCustomer(r.body.data) : null;
    },

    async createCustomer(o) {
      o.signal?.throwIfAborted();
      const values: Record<string, unknown> = { name: [{ first_name: o.firstName, last_name: o.lastName, full_name: `${o.firstName} ${o.lastName}`.trim() }] };
      if (o.phone) values.phone_numbers = [o.phone];
      if (o.email) values.email_addresses = [o.email];
      if (o.zip && settings.zipAttribute) values[settings.zipAttribute] = o.zip;
      const r = await client.request<{ data?: AttioRecord }>({ method: 'POST', path: '/objects/people/records', body: { data: { values } }, signal: o.signal, op: 'create person' });
      if (!r.body?.data) throw new PluginError('upstream', 'attio create person returned no record', { provider: PROVIDER });
      return toCustomer(r.body.data);
    },

    async listVehicles(o) {
      o.signal?.throwIfAborted();
      if (!UUID.test(o.customerId) || !(await vehiclesAvailable(o.signal))) return [];
      const rows = await query({ object: vehicleObject, filter: { owner: { target_record_id: { $eq: o.customerId } } }, limit: 50, signal: o.signal, op: 'list vehicles' });
      return rows.map((r) => toVehicle(r, o.customerId));
    },

    async addVehicle(o) {
      o.signal?.throwIfAborted();
      if (!(await vehiclesAvailable(o.signal))) {
        throw new PluginError('invalid_request', `attio workspace has no "${vehicleObject}" object`, { provider: PROVIDER });
      }
      const values: Record<string, unknown> = { owner: [{ target_object: 'people', target_record_id: o.customerId }] };
      if (o.vin) values.vin = o.vin;
      if (o.year !== undefined) values.year = o.year;
      if (o.make) values.make = o.make;
      if (o.model) values.model = o.model;
      if (o.mileage !== undefined) values.mileage = o.mileage;
      const r = await client.request<{ data?: AttioRecord }>({ method: 'POST', path: `/objects/${vehicleObject}/records`, body: { data: { values } }, signal: o.signal, op: 'create vehicle' });
      if (!r.body?.data) throw new PluginError('upstream', 'attio create vehicle returned no record', { provider: PROVIDER });
      return toVehicle(r.body.data, o.customerId);
    },

    async getServiceHistory(o) {
      o.signal?.throwIfAborted();
      return [];
    },

    async logInteraction(o) {
      o.signal?.throwIfAborted();
      const key = `note:${o.callId}`;
      const known = await ctx.store.get<string>(key);
      if (known) return { externalId: known };
      const r = await client.request<{ data?: { id?: { note_id?: string } } }>({
        method: 'POST', path: '/notes', signal: o.signal, op: 'create note',
        body: { data: { parent_object: 'people', parent_record_id: o.customerId, title: `Call (${o.outcome})`, format: 'plaintext', content: `${o.summary}\n\nCall ${o.callId}, ${Math.round(o.durationMs / 1000)} s.`, created_at: o.startedAt } },
      });
      if (r.status === 404) throw new PluginError('not_found', 'attio person for the call note not found', { provider: PROVIDER, status: 404 });
      const id = r.body?.data?.id?.note_id;
      if (!id) throw new PluginError('upstream', 'attio create note returned no id', { provider: PROVIDER });
      await ctx.store.set(key, id, { ttlSec: 30 * 86400 });
      return { externalId: id };
    },
  };
}
