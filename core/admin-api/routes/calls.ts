import { ServiceLaneError } from '../../errors.js';
import { E164_PATTERN } from '../../sdk/phone.js';
import { instantQuery, ok, PAGE_QUERY, paged, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';
import { parseQueryInstants } from '../validate.js';

const CALL_ID_RE = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|CA[0-9a-f]{32})$/;
const MAX_EVENTS = 1000;

interface CallsQuery { before?: string; limit: number; from?: string; to?: string; outcome?: string; number?: string; customer?: string }

/** A dealership's calls and one call's transcript; caller numbers and tool arguments are PII (kit.mayReadPii). */
export const callRoutes: RouteDef[] = [
  tenantRoute<CallsQuery>({
    method: 'get', path: '/tenants/:id/calls', operationId: 'listCalls', summary: 'Calls, newest first', tags: ['data'], action: 'data.calls',
    description: 'Caller numbers read `hidden` for roles without PII access (tenant_viewer).',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        before: instantQuery('Cursor: startedAt of the last item of the previous page.'), limit: PAGE_QUERY.limit,
        // Console filters: a day range on the dealership's calendar, the outcome, the caller's number, the customer.
        from: instantQuery('Calls started at or after (a bare date: that day on the dealership\'s calendar).'),
        to: instantQuery('Calls started before (a bare date: the end of that day).'),
        outcome: { type: 'string', pattern: '^[a-z_]{1,40}$' },
        number: { type: 'string', pattern: E164_PATTERN, description: 'The caller\'s E.164 number.' },
        customer: { type: 'string', minLength: 1, maxLength: 64, description: 'Customer id.' },
      },
    },
    responses: { 200: ok('calls', paged(ref('Call'))), ...TENANT_RESPONSES },
    handler: async ({ req, res, deps: p, kit, tenant: t, query: q }) => {
      const { before, from, to } = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { before: q.before, from: q.from, to: q.to }, endOfDay: ['to'] });
      const items = await p.tenants.withTenant(t.id, (trx) => {
        const qb = trx('calls').select('id', 'call_sid as callSid', 'direction', 'from_number as from', 'to_number as to', 'status', 'customer_id as customerId',
          'outcome', 'summary', 'started_at as startedAt', 'ended_at as endedAt')
          .orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit);
        if (before) qb.where('started_at', '<', before);
        if (from) qb.where('started_at', '>=', from);
        if (to) qb.where('started_at', '<', to);
        if (q.outcome) qb.where('outcome', q.outcome);
        if (q.number) qb.where('from_number', q.number);
        if (q.customer) qb.where('customer_id', q.customer);
        return qb;
      });
      const pii = kit.mayReadPii(req, t.id);
      res.json({ items: pii ? items : items.map((c: Record<string, unknown>) => ({ ...c, from: c.from ? 'hidden' : null })), limit: q.limit });
    },
  }),

  tenantRoute({
    method: 'get', path: '/tenants/:id/calls/:callId', operationId: 'getCall', summary: 'One call with its events (the transcript, at most 1,000)', tags: ['data'], action: 'data.call',
    params: { callId: { schema: { type: 'string' }, description: 'The call uuid or its Twilio CallSid.' } },
    responses: { 200: ok('call', { allOf: [ref('Call'), { type: 'object', properties: { transcript: { type: 'array', items: ref('CallEvent') } } }] }), ...TENANT_RESPONSES },
    handler: async ({ req, res, deps: p, kit, tenant: t, param }) => {
      const callId = param('callId');
      if (!CALL_ID_RE.test(callId)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
      const out = await p.tenants.withTenant(t.id, async (trx) => {
        const call = await trx('calls').where(callId.startsWith('CA') ? { call_sid: callId } : { id: callId })
          .first('id', 'call_sid as callSid', 'direction', 'from_number as from', 'to_number as to', 'status', 'customer_id as customerId',
            'outcome', 'summary', 'started_at as startedAt', 'ended_at as endedAt');
        if (!call) return null;
        const transcript = await trx('call_events').where({ call_id: call.id }).orderBy('id').limit(MAX_EVENTS).select('at', 'kind', 'payload');
        return { ...call, transcript };
      });
      if (!out) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
      if (!kit.mayReadPii(req, t.id)) {
        out.from = out.from ? 'hidden' : null;
        out.transcript = out.transcript.map((e: { kind: string; payload: Record<string, unknown> }) => e.kind === 'tool_call' ? { ...e, payload: { ...e.payload, arguments: 'hidden' } } : e);
      }
      res.json(out);
    },
  }),
];
