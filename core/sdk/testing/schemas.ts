import type { JSONSchemaType } from 'ajv';
import type { BusyInterval, Customer, ServiceRecord, Vehicle, VehicleInfo } from '../contracts/common.js';

/** E.164: `+`, country code, up to 15 digits. */
import { E164_PATTERN } from '../phone.js';

export { E164_PATTERN };

// `additionalProperties: false` is the point: a vendor field that leaks into a DTO fails conformance.

/** The {@link Customer} DTO as JSON Schema (typed, so schema and interface can't drift). */
export const customerSchema: JSONSchemaType<Customer> = {
  type: 'object', additionalProperties: false, required: ['id', 'firstName', 'lastName'],
  properties: {
    id: { type: 'string', minLength: 1 },
    firstName: { type: 'string' },
    lastName: { type: 'string' },
    phone: { type: 'string', nullable: true, pattern: E164_PATTERN },
    email: { type: 'string', nullable: true },
    zip: { type: 'string', nullable: true },
    notes: { type: 'string', nullable: true },
  },
};

/** The {@link Vehicle} DTO as JSON Schema. */
export const vehicleSchema: JSONSchemaType<Vehicle> = {
  type: 'object', additionalProperties: false, required: ['id', 'customerId'],
  properties: {
    id: { type: 'string', minLength: 1 },
    customerId: { type: 'string', minLength: 1 },
    vin: { type: 'string', nullable: true },
    year: { type: 'integer', nullable: true, minimum: 1900, maximum: 2100 },
    make: { type: 'string', nullable: true },
    model: { type: 'string', nullable: true },
    mileage: { type: 'number', nullable: true, minimum: 0 },
  },
};

/** The {@link ServiceRecord} DTO as JSON Schema. */
export const serviceRecordSchema: JSONSchemaType<ServiceRecord> = {
  type: 'object', additionalProperties: false, required: ['id', 'vehicleId', 'performedAt', 'serviceType'],
  properties: {
    id: { type: 'string', minLength: 1 },
    vehicleId: { type: 'string' },
    performedAt: { type: 'string', format: 'date-time' },
    serviceType: { type: 'string', minLength: 1 },
    description: { type: 'string', nullable: true },
    mileage: { type: 'number', nullable: true, minimum: 0 },
  },
};

/** The {@link BusyInterval} DTO as JSON Schema. */
export const busyIntervalSchema: JSONSchemaType<BusyInterval> = {
  type: 'object', additionalProperties: false, required: ['start', 'end'],
  properties: {
    start: { type: 'string', format: 'date-time' },
    end: { type: 'string', format: 'date-time' },
    resourceId: { type: 'string', nullable: true },
  },
};

/** The {@link VehicleInfo} DTO as JSON Schema. */
export const vehicleInfoSchema: JSONSchemaType<VehicleInfo> = {
  type: 'object', additionalProperties: false, required: ['vin'],
  properties: {
    vin: { type: 'string', pattern: '^[A-HJ-NPR-Z0-9]{17}$' },
    year: { type: 'integer', nullable: true, minimum: 1900, maximum: 2100 },
    make: { type: 'string', nullable: true },
    model: { type: 'string', nullable: true },
    trim: { type: 'string', nullable: true },
    bodyClass: { type: 'string', nullable: true },
  },
};
