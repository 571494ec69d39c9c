import type { ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../sdk/json-schema.js';

/**
 * One ajv for every tool. `removeAdditional` stays off: an unexpected property (`tenant_id`, `customer_id`)
 * is a sign the model was steered, so it is rejected rather than silently dropped. `coerceTypes` is off
 * too: "12" is not a year.
 */
const ajv = createAjv({ allErrors: true, strict: true }, ['date']);

export function compileArgs(schema: Record<string, unknown>): ValidateFunction {
  return ajv.compile(schema);
}

/** Keywords the model-facing schema keeps. Length/pattern/format/range stay server-side: OpenAI strict mode
 * rejects or ignores several of them, and ajv re-checks everything anyway. */
const MODEL_KEYWORDS = new Set(['type', 'description', 'enum', 'properties', 'required', 'additionalProperties', 'items']);

/**
 * The ajv schema → the function parameters OpenAI strict mode accepts: every property required, nullable
 * expressed as a `null` type member, `additionalProperties: false`, no constraint keywords.
 */
export function toModelSchema(schema: object, o: { enums?: Record<string, readonly string[]> } = {}): Record<string, unknown> {
  const walk = (node: Record<string, unknown>, propName: string | null): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (!MODEL_KEYWORDS.has(k)) continue;
      if (k === 'properties' && v && typeof v === 'object') {
        out.properties = Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>).map(([name, sub]) => [name, walk(sub, name)]));
      } else if (k === 'items' && v && typeof v === 'object') {
        out.items = walk(v as Record<string, unknown>, null);
      } else {
        out[k] = v;
      }
    }
    const enumValues = propName ? o.enums?.[propName] : undefined;
    if (enumValues) out.enum = [...enumValues];
    if (node.nullable === true) {
      out.type = [node.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
    }
    if (node.type === 'object') {
      out.required = Object.keys((node.properties as object | undefined) ?? {});
      out.additionalProperties = false;
    }
    return out;
  };
  return walk(schema as Record<string, unknown>, null);
}

/** ajv errors → short, value-free messages the model can act on ("last_name: must NOT have more than 100 characters"). */
export function describeArgErrors(errors: ErrorObject[] | null | undefined): { fields: string[]; message: string } {
  const fields: string[] = [];
  const parts: string[] = [];
  for (const e of (errors ?? []).slice(0, 5)) {
    let field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      field = String((e.params as { additionalProperty?: string }).additionalProperty);
      msg = 'is not an accepted field';
    } else if (e.keyword === 'required') {
      field = String((e.params as { missingProperty?: string }).missingProperty);
      msg = 'is required (use null when unknown)';
    } else if (e.keyword === 'pattern' || e.keyword === 'format') {
      msg = 'has the wrong format';
    }
    // Field names come from our schema, except additionalProperty, which the model chose: cap it.
    field = field.replace(/[^A-Za-z0-9_.]/g, '?').slice(0, 40) || 'arguments';
    if (!fields.includes(field)) fields.push(field);
    parts.push(`${field} ${msg}`);
  }
  return { fields, message: parts.join('; ') || 'arguments are invalid' };
}
