import ical, { ICalCalendarMethod, ICalEventStatus } from 'ical-generator';
import { DateTime } from 'luxon';
import type { CalendarInvite, NotifyMessage } from '../sdk/index.js';
import type { DealershipConfig, EmailTemplate } from '../tenancy/config.js';

/**
 * What a confirmation email says, and the invite it carries (docs/email.md). Pure functions of the appointment
 * version and the tenant config, so a retried job builds byte-identical content (except DTSTAMP).
 */

export type EmailKind = 'booked' | 'moved' | 'cancelled';

/** Used when the tenant's `emails.templates` has no entry for the kind. Plain text: it renders everywhere. */
export const DEFAULT_TEMPLATES: Readonly<Record<EmailKind, EmailTemplate>> = {
  booked: {
    subject: 'Your {{serviceName}} appointment at {{dealershipName}}: {{date}}, {{time}}',
    text: 'Hello {{customerName}},\n\nyour {{serviceName}} appointment at {{dealershipName}} is booked for {{date}} at {{time}}.\n\nThe attached invite adds it to your calendar. To change or cancel it, reply to this email or give us a call.\n\n{{dealershipName}}',
  },
  moved: {
    subject: 'Your {{serviceName}} appointment at {{dealershipName}} has moved: {{date}}, {{time}}',
    text: 'Hello {{customerName}},\n\nyour {{serviceName}} appointment at {{dealershipName}} is now on {{date}} at {{time}}.\n\nThe attached invite updates the one in your calendar.\n\n{{dealershipName}}',
  },
  cancelled: {
    subject: 'Cancelled: your {{serviceName}} appointment at {{dealershipName}} on {{date}}',
    text: 'Hello {{customerName}},\n\nyour {{serviceName}} appointment at {{dealershipName}} on {{date}} at {{time}} is cancelled.\n\nThe attached notice removes it from your calendar. Call us any time to book again.\n\n{{dealershipName}}',
  },
};

/** The appointment version an email describes. */
export interface EmailAppointment {
  id: string;
  revision: number;
  startsAt: Date;
  endsAt: Date;
  serviceName: string;
  customerName: string;
}

/** iCalendar SEQUENCE: 0 for the booking (revision 1), one more for each move or cancellation. */
export function inviteSequence(revision: number): number {
  return Math.max(0, revision - 1);
}

/** Stable per appointment, so every later invite updates or cancels the same calendar entry. */
export function inviteUid(appointmentId: string): string {
  return `${appointmentId}@servicelane`;
}

/** Parameter values may not contain DQUOTE, and names with `;:,` must be quoted: drop what can't be quoted. */
function cn(name: string): string {
  return name.replace(/["\r\n]/g, '').slice(0, 100);
}

export function buildInvite(o: { kind: EmailKind; appointment: EmailAppointment; to: string; config: Pick<DealershipConfig, 'name' | 'emails'>; now: Date }): CalendarInvite {
  const method = o.kind === 'cancelled' ? 'CANCEL' : 'REQUEST';
  const cal = ical({ prodId: { company: 'ServiceLane', product: 'Appointments', language: 'EN' }, method: method === 'CANCEL' ? ICalCalendarMethod.CANCEL : ICalCalendarMethod.REQUEST });
  const a = o.appointment;
  const organizer = o.config.emails?.replyTo;
  cal.createEvent({
    id: inviteUid(a.id),
    sequence: inviteSequence(a.revision),
    // UTC times: no VTIMEZONE needed, and every client shows them in the reader's own zone.
    start: a.startsAt, end: a.endsAt, stamp: o.now,
    summary: `${a.serviceName} at ${o.config.name}`,
    status: method === 'CANCEL' ? ICalEventStatus.CANCELLED : ICalEventStatus.CONFIRMED,
    // iTIP wants an ORGANIZER; without a reply-to address there is none the customer could reach, so it is left out.
    ...(organizer ? { organizer: { name: cn(o.config.name), email: organizer } } : {}),
    attendees: [{ email: o.to, name: cn(a.customerName), rsvp: false }],
  });
  return { method, ics: cal.toString(), filename: method === 'CANCEL' ? 'cancel.ics' : 'invite.ics' };
}

/** Replaces the known `{{placeholders}}`; anything else in braces stays as written (a typo shows, never throws). */
export function renderTemplate(t: string, values: Record<string, string>): string {
  return t.replace(/\{\{\s*([a-zA-Z]+)\s*\}\}/g, (m, k: string) => (Object.hasOwn(values, k) ? values[k]! : m));
}

export function buildEmail(o: { kind: EmailKind; appointment: EmailAppointment; to: string; config: Pick<DealershipConfig, 'name' | 'emails' | 'timezone' | 'locale'>; now: Date }): NotifyMessage {
  const t = o.config.emails?.templates?.[o.kind] ?? DEFAULT_TEMPLATES[o.kind];
  const local = DateTime.fromJSDate(o.appointment.startsAt, { zone: o.config.timezone }).setLocale(o.config.locale || 'en-US');
  const values: Record<string, string> = {
    customerName: o.appointment.customerName,
    dealershipName: o.config.name,
    serviceName: o.appointment.serviceName,
    date: local.toLocaleString({ weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' }),
    time: local.toLocaleString({ hour: 'numeric', minute: '2-digit', timeZoneName: 'short' }),
    replyTo: o.config.emails?.replyTo ?? '',
  };
  return {
    to: o.to,
    // A header line: a newline in a template would end the Subject header.
    subject: renderTemplate(t.subject, values).replace(/[\r\n]+/g, ' ').slice(0, 250),
    text: renderTemplate(t.text, values),
    ...(o.config.emails?.replyTo ? { replyTo: o.config.emails.replyTo } : {}),
    calendar: buildInvite(o),
  };
}
