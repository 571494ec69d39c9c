import type { AppointmentDto, BusyInterval, CallOptions } from './common.js';

/**
 * A calendar of record. Core computes free slots itself (hours, holidays, durations, zone) and keeps the
 * authoritative booking in Postgres; a provider reports busy time and mirrors bookings.
 *
 * @remarks Capabilities: `busy` (getBusy is meaningful), `write` (can mirror bookings), `perResource`
 * (busy intervals carry resourceId).
 */
export interface CalendarProvider {
  getBusy(o: CallOptions & { from: string; to: string; resourceIds?: string[] }): Promise<BusyInterval[]>;
  /** Idempotent on `idempotencyKey`: a retry of the same booking returns the same external id. */
  createAppointment(o: CallOptions & { appointment: AppointmentDto; idempotencyKey: string }): Promise<{ externalId: string; url?: string }>;
  updateAppointment(o: CallOptions & { externalId: string; appointment: AppointmentDto }): Promise<void>;
  cancelAppointment(o: CallOptions & { externalId: string; reason?: string }): Promise<void>;
  close?(): Promise<void>;
}
