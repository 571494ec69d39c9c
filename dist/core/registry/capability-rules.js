export const CAPABILITY_RULES = [
    {
        slot: 'calendar', capability: 'busy', when: () => true,
        reason: 'availability is computed from the calendar\'s busy intervals',
    },
    {
        // A configured VIN decoder means the agent takes VINs: it adds vehicles and verifies callers by a VIN's last 4.
        slot: 'crm', capability: 'vehicles', when: (c) => c.plugins.vehicle !== undefined,
        reason: 'the tenant uses VINs (vehicle slot configured): the agent stores vehicles and verifies callers by VIN',
    },
    {
        slot: 'llm', capability: 'tools', when: () => true,
        reason: 'the agent looks up customers and books through tool calls',
    },
];
/** A capability counts as declared when present and not `false`, `0` or an empty string/list. */
export function hasCapability(caps, name) {
    const v = caps[name];
    if (Array.isArray(v))
        return v.length > 0;
    return v !== undefined && v !== null && v !== false && v !== 0 && v !== '';
}
//# sourceMappingURL=capability-rules.js.map