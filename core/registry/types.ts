import type { PluginKinds } from '../sdk/index.js';
import type { SlotName } from '../tenancy/config.js';

/** Slot → the instance interface it holds. `vehicle` and `notify` slots are optional per tenant. */
export type SlotKinds = { [S in SlotName]: PluginKinds[S] };

export interface SlotStatus {
  slot: SlotName;
  pluginId: string | null;
  state: 'ok' | 'disabled' | 'unconfigured';
  error?: { code: string; message: string; details?: unknown };
}
