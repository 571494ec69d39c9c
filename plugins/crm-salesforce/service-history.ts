import type { ServiceRecord } from '../../core/sdk/index.js';
import { soqlString } from './client.js';

/**
 * Where an org keeps its service history. Salesforce has no standard "service record": orgs with Field Service use
 * `WorkOrder` (the default mapping), dealership orgs often a custom object (e.g. `Service_Record__c`). Every name is
 * an API name checked by the settings schema, so it can go into SOQL unquoted.
 */
export interface SalesforceServiceHistoryMapping {
  /** Object API name; `WorkOrder` by default. */
  object?: string;
  /** Lookup to the Contact (required for a custom object). */
  contactField?: string;
  /** Lookup to the vehicle record (`AssetId` on WorkOrder; a custom lookup when vehicles are a custom object). */
  vehicleField?: string;
  /** Date or DateTime the work was done (required for a custom object). */
  dateField?: string;
  /** Short label of the work: "Oil change" (required for a custom object). */
  typeField?: string;
  descriptionField?: string;
  /** Odometer reading at the visit, when the org records one. */
  mileageField?: string;
  /** With `completedStatus`: only records whose status field equals it count as history (not open or planned work). */
  statusField?: string;
  completedStatus?: string;
}

type Resolved = Required<Pick<SalesforceServiceHistoryMapping, 'object' | 'contactField' | 'dateField' | 'typeField'>> & SalesforceServiceHistoryMapping;

/** WorkOrder's standard fields; a completed work order is history, a new or scheduled one is not. */
export const WORK_ORDER_HISTORY: Resolved = {
  object: 'WorkOrder', contactField: 'ContactId', vehicleField: 'AssetId', dateField: 'EndDate', typeField: 'Subject',
  descriptionField: 'Description', statusField: 'Status', completedStatus: 'Completed',
};

/** The mapping in force: WorkOrder's fields fill the gaps for WorkOrder; a custom object must name its own (see validate). */
export function resolveServiceHistory(m: SalesforceServiceHistoryMapping | undefined): Resolved | null {
  const object = m?.object ?? 'WorkOrder';
  if (object === 'WorkOrder') return { ...WORK_ORDER_HISTORY, ...m, object };
  if (!m?.contactField || !m.dateField || !m.typeField) return null;
  return { ...m, object, contactField: m.contactField, dateField: m.dateField, typeField: m.typeField };
}

/** Settings-time messages: a custom object without the fields a service record can't do without. */
export function serviceHistoryProblems(m: SalesforceServiceHistoryMapping | undefined): string[] {
  if (!m?.object || m.object === 'WorkOrder') return [];
  const out: string[] = [];
  for (const f of ['contactField', 'dateField', 'typeField'] as const) if (!m[f]) out.push(`serviceHistory.${f} is required when serviceHistory.object is a custom object (${m.object})`);
  if ((m.statusField === undefined) !== (m.completedStatus === undefined)) out.push('serviceHistory.statusField and serviceHistory.completedStatus go together');
  return out;
}

/** The SOQL for one customer's (or one vehicle's) most recent service records, newest first. */
export function serviceHistorySoql(m: Resolved, o: { customerId: string; vehicleId?: string; limit: number }): string {
  const fields = ['Id', m.contactField, m.vehicleField, m.dateField, m.typeField, m.descriptionField, m.mileageField].filter((f): f is string => !!f);
  const where = [`${m.contactField} = ${soqlString(o.customerId)}`];
  if (o.vehicleId && m.vehicleField) where.push(`${m.vehicleField} = ${soqlString(o.vehicleId)}`);
  if (m.statusField && m.completedStatus) where.push(`${m.statusField} = ${soqlString(m.completedStatus)}`);
  return `SELECT ${[...new Set(fields)].join(', ')} FROM ${m.object} WHERE ${where.join(' AND ')} ORDER BY ${m.dateField} DESC LIMIT ${o.limit}`;
}

/**
 * Salesforce's Date (`2026-03-02`) or DateTime (`2026-03-02T17:00:00.000+0000`, no colon in the offset) as an ISO
 * 8601 instant. A bare date becomes noon UTC: the visit's calendar day then reads the same in every US zone, where
 * midnight UTC would be the day before on the West Coast.
 */
export function salesforceInstant(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return `${v}T12:00:00.000Z`;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})$/.exec(v);
  if (!m) return undefined;
  const offset = m[2] === 'Z' ? 'Z' : `${m[2]!.slice(0, 3)}:${m[2]!.slice(-2)}`;
  const t = Date.parse(`${m[1]}${offset}`);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** One row as our DTO; a row without a usable date is not a service record we can speak about (skipped). */
export function toServiceRecord(m: Resolved, r: Record<string, unknown>): ServiceRecord | null {
  const performedAt = salesforceInstant(r[m.dateField]);
  if (!performedAt) return null;
  const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
  const rawMileage = m.mileageField ? r[m.mileageField] : undefined;
  const mileage = typeof rawMileage === 'number' ? rawMileage : typeof rawMileage === 'string' && rawMileage.trim() ? Number(rawMileage) : NaN;
  const description = m.descriptionField ? text(r[m.descriptionField]) : undefined;
  return {
    id: String(r.Id),
    vehicleId: (m.vehicleField && text(r[m.vehicleField])) || '',
    performedAt,
    serviceType: text(r[m.typeField])?.slice(0, 200) ?? 'Service',
    ...(description ? { description: description.slice(0, 2000) } : {}),
    ...(Number.isFinite(mileage) && mileage >= 0 ? { mileage: Math.trunc(mileage) } : {}),
  };
}
