import { Ajv, type Options } from 'ajv';
import * as addFormatsModule from 'ajv-formats';

// ajv-formats is CJS (`exports.default = formatsPlugin`); under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule.default.default;

/**
 * The one way ServiceLane builds a JSON-schema validator (tenant config, plugin settings, API bodies, tool
 * arguments, the conformance suite): ajv with the standard formats. Callers choose the options that are theirs
 * to choose (strictness, defaults, coercion) and, where a narrower set matters, which formats are known.
 */
export function createAjv(options: Options, formats?: Parameters<typeof addFormats>[1]): Ajv {
  const ajv = new Ajv(options);
  addFormats(ajv, formats);
  return ajv;
}
