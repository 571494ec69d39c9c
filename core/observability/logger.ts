import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Phone numbers, names, VINs and transcripts go only under the `pii` key; production redacts it whole so
 * a forgotten field can't leak, while development keeps it for debugging.
 */
export function createLogger(o: { level: string; production: boolean; name?: string }): Logger {
  return pino({
    name: o.name ?? 'servicelane',
    level: o.level,
    redact: o.production ? { paths: ['pii', '*.pii'], censor: '[redacted]' } : undefined,
    base: undefined,
  });
}

/** A silent logger for tests and tools that must not print. */
export const silentLogger: Logger = pino({ level: 'silent' });
