/** Options every plugin method accepts. Core aborts the signal on timeout, barge-in or tenant unload. */
export interface CallOptions { signal?: AbortSignal }

/** A customer as core sees it, whatever the CRM stores. `id` is the CRM's own id, opaque to core. */
export interface Customer {
  id: string;
  firstName: string;
  lastName: string;
  /** E.164. */
  phone?: string;
  email?: string;
  zip?: string;
  /** Free text from the CRM. Untrusted: it is quoted to the model as data, never as instructions. */
  notes?: string;
}

/** A vehicle on file with the CRM. `id` is the CRM's own id; `customerId` the owning {@link Customer}'s id. */
export interface Vehicle {
  id: string;
  customerId: string;
  vin?: string;
  year?: number;
  make?: string;
  model?: string;
  mileage?: number;
}

/** One past service visit from the CRM, newest first when listed. */
export interface ServiceRecord {
  id: string;
  vehicleId: string;
  /** ISO 8601 instant. */
  performedAt: string;
  serviceType: string;
  description?: string;
  mileage?: number;
}

/** A half-open busy interval [start, end) as ISO 8601 instants; `resourceId` absent means every resource. */
export interface BusyInterval { start: string; end: string; resourceId?: string }

/** Decoded vehicle facts from a VIN. */
export interface VehicleInfo { vin: string; year?: number; make?: string; model?: string; trim?: string; bodyClass?: string }

/** A booked appointment, as mirrored to an external calendar. */
export interface AppointmentDto {
  id: string;
  resourceId: string;
  serviceType: string;
  /** ISO 8601 instants. */
  start: string;
  end: string;
  timezone: string;
  customer: { id: string; name: string; phone?: string; email?: string };
  vehicle?: { id?: string; description?: string };
  notes?: string;
}
