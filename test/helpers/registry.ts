import { PluginRegistry, type PluginRegistryOptions } from '../../core/registry/registry.js';
import { platformDefaults } from '../../core/registry/platform-defaults.js';
import { createTenantData } from '../../core/repos/index.js';
import { parseEgressAllow } from '../../core/sdk/egress.js';
import { silentLogger } from '../../core/observability/logger.js';
import { firstPartyPlugins } from '../../plugins/index.js';
import type { TestPlatform } from './platform.js';

/**
 * A second PluginRegistry over a test platform's tenants and state, wired as core/app.ts wires the platform's
 * own (first-party manifests, platform defaults, egress allow-list, tenant data for the built-ins), for tests that
 * need registry options the platform doesn't expose (shorter resilience timings, a different manifest list).
 * The registry has no default manifest list, so the list comes from here, never from the registry.
 */
export function testRegistry(tp: TestPlatform, o: Partial<PluginRegistryOptions> = {}): PluginRegistry {
  return new PluginRegistry({
    tenants: tp.p.tenants, state: tp.p.state, logger: silentLogger,
    manifests: firstPartyPlugins,
    platformDefaults: platformDefaults(tp.cfg),
    egress: { httpsOnly: false, allow: parseEgressAllow(tp.cfg.pluginEgressAllow).allow },
    tenantData: { pluginIds: ['crm-builtin', 'calendar-builtin'], forTenant: (id) => createTenantData((fn) => tp.p.tenants.withTenant(id, fn)) },
    ...o,
  });
}
