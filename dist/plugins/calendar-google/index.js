import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createGoogleCalendar, googleClient, mapGoogleError } from './calendar.js';
export { eventIdFor } from './calendar.js';
export default definePlugin({
    id: 'calendar-google',
    kind: 'calendar',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Google Calendar as the dealership\'s calendar of record: freeBusy for availability, bookings mirrored as events.',
    settingsSchema: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: {
            calendarId: { type: 'string', nullable: true, minLength: 1, maxLength: 255 },
            timeZone: { type: 'string', nullable: true, minLength: 1, maxLength: 64 },
            sendUpdates: { type: 'string', nullable: true, enum: ['all', 'externalOnly', 'none'] },
        },
    },
    credentialsSchema: {
        type: 'object',
        additionalProperties: false,
        required: ['clientId', 'clientSecret', 'refreshToken'],
        properties: {
            clientId: { type: 'string', minLength: 1, maxLength: 512 },
            clientSecret: { type: 'string', minLength: 1, maxLength: 512 },
            refreshToken: { type: 'string', minLength: 1, maxLength: 2048 },
        },
    },
    capabilities: { busy: true, write: true, perResource: true, builtin: false },
    validate(settings) {
        if (settings.timeZone !== undefined && settings.timeZone !== null) {
            try {
                new Intl.DateTimeFormat('en-US', { timeZone: settings.timeZone });
            }
            catch {
                return ['timeZone must be an IANA time zone'];
            }
        }
        return [];
    },
    async testConnection(ctx, config) {
        const g = await googleClient(ctx, config);
        try {
            await g.calendar.calendars.get({ calendarId: g.calendarId }, { retry: false, timeout: 10_000 });
            return { ok: true };
        }
        catch (e) {
            const err = mapGoogleError(e, 'calendars.get');
            return { ok: false, detail: `${err.category}: ${err.message}` };
        }
    },
    async create(ctx, config) {
        return createGoogleCalendar(ctx, await googleClient(ctx, config));
    },
});
//# sourceMappingURL=index.js.map