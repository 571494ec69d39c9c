import type { AnyPluginManifest } from '../core/sdk/index.js';
import crmBuiltin from './crm-builtin/index.js';
import crmTwenty from './crm-twenty/index.js';
import vehicleNhtsa from './vehicle-nhtsa/index.js';
import notifyLog from './notify-log/index.js';

/** First-party plugins, listed explicitly (no folder scanning): the registry loads exactly these plus configured npm packages. */
export const firstPartyPlugins: AnyPluginManifest[] = [
  crmBuiltin,
  crmTwenty,
  vehicleNhtsa,
  notifyLog,
];
