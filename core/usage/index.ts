/** Per-call metering, daily rollups and per-tenant limits (docs/usage.md). */
export { CallMeter, meterLlm, meterStt, meterSttSession, meterTools, meterTts } from './call-meter.js';
export { LeaseStore } from './leases.js';
export { CallLimits, LEASE_TTL_MS, monthStart, type Admission, type LimitName } from './limits.js';
export { usageMetrics } from './metrics.js';
export { platformUsage, tenantUsage, toCsv, TOTAL_FIELDS, type Granularity, type UsagePeriod, type ProviderUsage, type TenantPeriod, type UsageTotals } from './report.js';
export { UsageRollup } from './rollup.js';
export { UsageService, type InboundVerdict, type MeteredCall, type OutboundPermit } from './usage-service.js';
