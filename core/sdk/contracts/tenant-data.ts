import type { BusyInterval, Customer, ServiceRecord, Vehicle } from './common.js';

/**
 * Tenant data access for the first-party built-in CRM and calendar (`crm-builtin`, `calendar-builtin`),
 * implemented by core's repositories (core/repos) and scoped to the instance's tenant.
 *
 * @remarks Core hands this to those two plugins only (as `ctx.tenantData`); every other plugin, third-party
 * packages included, gets no database access at all. Arguments arrive already validated by the plugin;
 * database errors surface as thrown errors carrying the Postgres SQLSTATE in `code`, which the plugin classifies.
 */
export interface BuiltinCrmData {
  /**
   * Customers by exact E.164 phone (newest first), by a lowercase name prefix matched literally, and/or by an
   * exact lowercase last name (optionally narrowed by an exact first name) for caller verification.
   */
  findCustomers(o: { phone?: string; namePrefix?: string; lastName?: string; firstName?: string; limit: number }): Promise<Customer[]>;
  getCustomer(id: string): Promise<Customer | null>;
  createCustomer(c: { firstName: string; lastName: string; phone: string | null; email: string | null; zip: string | null }): Promise<Customer>;
  listVehicles(customerId: string): Promise<Vehicle[]>;
  /** One statement: an unknown customer raises 23503, an already registered VIN 23505. */
  addVehicle(v: { customerId: string; vin: string | null; year: number | null; make: string | null; model: string | null; mileage: number | null }): Promise<Vehicle>;
  getServiceHistory(o: { customerId: string; vehicleId?: string; limit: number }): Promise<ServiceRecord[]>;
  /** Upserts on (customer, call): a retried post-call job lands on the same row. */
  logInteraction(i: { customerId: string; callId: string; startedAt: Date; durationMs: number; outcome: string; summary: string }): Promise<{ id: string }>;
  /** A cheap query proving the tenant's tables answer (for testConnection). */
  ping(): Promise<void>;
}

/** A booking row the built-in calendar records for a caller of the calendar contract. */
export interface BuiltinAppointmentInsert {
  customerId: string;
  customerName: string;
  customerPhone: string | null;
  resourceId: string;
  serviceType: string;
  start: Date;
  end: Date;
  notes: string | null;
}

/** See {@link BuiltinCrmData}: the appointments table as the built-in calendar sees it. */
export interface BuiltinCalendarData {
  /** Non-cancelled bookings overlapping [from, to) that started after `startedAfter` (keeps the range query indexed). */
  busy(o: { from: Date; to: Date; startedAfter: Date; resourceIds?: readonly string[] }): Promise<BusyInterval[]>;
  /**
   * In one transaction: the id of the row `ownId` (a row core booked itself) or of an earlier call with
   * `idempotencyKey`, else inserts `prepare()` (which validates and may throw) and returns the new id.
   * An overlapping booking raises 23P01 (the exclusion constraint).
   */
  createOnce(o: { ownId?: string; idempotencyKey: string; prepare: () => BuiltinAppointmentInsert }): Promise<string>;
  /** Moves a non-cancelled booking; returns the number of rows changed (0 = no such booking). */
  move(o: { id: string; start: Date; end: Date; resourceId: string }): Promise<number>;
  /** Cancels a booked row; a row that is not booked is left alone. */
  cancel(o: { id: string; reason: string | null }): Promise<void>;
  ping(): Promise<void>;
}

/** What `ctx.tenantData` holds for a first-party built-in plugin. */
export interface TenantData {
  crm: BuiltinCrmData;
  calendar: BuiltinCalendarData;
}
