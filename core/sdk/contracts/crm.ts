import type { CallOptions, Customer, ServiceRecord, Vehicle } from './common.js';

/**
 * A CRM connector. All methods are async, take an options object and honour `signal`.
 * Throw {@link PluginError} for vendor failures; return `[]`/`null` for "nothing found".
 *
 * @remarks Capabilities a CRM may declare: `vehicles` (stores vehicles), `serviceHistory`, `interactions`
 * (can log calls), `createCustomers`.
 */
export interface CrmConnector {
  /**
   * Find customers by exact E.164 phone, by name (case-insensitive prefix on first/last name), or by exact last
   * name (`lastName`, case-insensitive equality, optionally narrowed by an exact `firstName`).
   *
   * @remarks Caller verification asks with `lastName` and `limit` = its cap + 1, and must see EVERY account
   * with that last name up to the limit: page through the vendor API until `limit` rows or the end. When a
   * page budget runs out first, throw a {@link PluginError} rather than return a partial list (a partial
   * list makes verification miss the caller's account). Up to 50 rows must be supported.
   */
  findCustomers(o: CallOptions & { phone?: string; name?: string; lastName?: string; firstName?: string; limit?: number }): Promise<Customer[]>;
  getCustomer(o: CallOptions & { id: string }): Promise<Customer | null>;
  createCustomer(o: CallOptions & { firstName: string; lastName: string; phone?: string; email?: string; zip?: string }): Promise<Customer>;
  listVehicles(o: CallOptions & { customerId: string }): Promise<Vehicle[]>;
  addVehicle(o: CallOptions & { customerId: string; vin?: string; year?: number; make?: string; model?: string; mileage?: number }): Promise<Vehicle>;
  getServiceHistory(o: CallOptions & { customerId: string; vehicleId?: string; limit?: number }): Promise<ServiceRecord[]>;
  /** Record a finished call against the customer (a note, activity or task in the CRM). */
  logInteraction(o: CallOptions & {
    customerId: string; callId: string; startedAt: string; durationMs: number; summary: string;
    outcome: 'booked' | 'cancelled' | 'rescheduled' | 'info' | 'transferred' | 'callback' | 'voicemail' | 'other';
  }): Promise<{ externalId: string }>;
  /** Release sockets and timers. Called on config change and shutdown. */
  close?(): Promise<void>;
}
