import { randomUUID } from 'node:crypto';
import { API_VERSION, PluginError, definePlugin } from '../../core/sdk/index.js';
const settingsSchema = {
    type: 'object',
    additionalProperties: false,
    properties: { keepSec: { type: 'integer', minimum: 0, maximum: 30 * 24 * 3600, nullable: true } },
    required: [],
};
function createLogNotifier(ctx, settings) {
    const keepSec = settings.keepSec ?? 0;
    return {
        async send(o) {
            o.signal?.throwIfAborted();
            if (o.to.trim() === '' || o.to.length > 320)
                throw new PluginError('invalid_request', 'recipient is empty or too long', { provider: 'log' });
            const messageId = randomUUID();
            ctx.logger.info({ messageId, textLength: o.text.length, pii: { to: o.to, subject: o.subject } }, 'notification (log only, not delivered)');
            if (keepSec > 0) {
                await ctx.store.set(`msg:${messageId}`, { to: o.to, subject: o.subject, text: o.text, at: new Date(ctx.clock.now()).toISOString() }, { ttlSec: keepSec });
            }
            return { messageId };
        },
    };
}
/** A notifier that only writes to the log: the default for development and for tenants without email set up. */
export default definePlugin({
    id: 'notify-log',
    kind: 'notify',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Writes notifications to the log (and optionally the plugin store) instead of delivering them.',
    settingsSchema,
    credentialsSchema: null,
    capabilities: { delivers: false, email: false, sms: false },
    testConnection: async () => ({ ok: true }),
    create: (ctx, { settings }) => createLogNotifier(ctx, settings),
});
//# sourceMappingURL=index.js.map