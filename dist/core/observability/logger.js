import pino from 'pino';
/**
 * Phone numbers, names, VINs and transcripts go only under the `pii` key; production redacts it whole so
 * a forgotten field can't leak, while development keeps it for debugging.
 */
export function createLogger(o) {
    return pino({
        name: o.name ?? 'servicelane',
        level: o.level,
        redact: o.production ? { paths: ['pii', '*.pii'], censor: '[redacted]' } : undefined,
        base: undefined,
    });
}
/** A silent logger for tests and tools that must not print. */
export const silentLogger = pino({ level: 'silent' });
//# sourceMappingURL=logger.js.map