// End to end: Ali Khani calls the demo dealership from his own phone and books an oil change for next Tuesday
// morning. Everything is real (webhooks, media socket, voice session, tools, scheduler, Postgres, Redis, jobs,
// the OpenAI/Deepgram/Twilio SDKs); only the vendors are the protocol-faithful fakes. The model's turns are
// scripted from the actual tool results in each request, so ids and slots are the platform's own.
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { ChatRequestBody, FakeTurn } from '../fakes/openai.js';
import {
  agentIdle, callerSays, DEMO_NUMBER, startCallHarness, voiceSession, type CallHarness,
} from '../helpers/call-harness.js';

const ALI = '+14086137788';
const ZONE = 'America/Los_Angeles';

/** Next Tuesday in the dealership's zone (a week ahead when today is Tuesday). */
function nextTuesday(): string {
  const today = DateTime.now().setZone(ZONE).startOf('day');
  const ahead = ((2 - today.weekday + 7) % 7) || 7;
  return today.plus({ days: ahead }).toISODate()!;
}

interface ToolMsg { name: string; result: Record<string, unknown> }

/** The last tool results of the request (name from the assistant's tool_calls, content parsed). */
function lastToolResults(body: ChatRequestBody): ToolMsg[] {
  const out: ToolMsg[] = [];
  const names = new Map<string, string>();
  for (const m of body.messages) for (const tc of m.tool_calls ?? []) names.set(tc.id, tc.function.name);
  for (let i = body.messages.length - 1; i >= 0 && body.messages[i]!.role === 'tool'; i--) {
    const m = body.messages[i]!;
    out.unshift({ name: names.get(m.tool_call_id ?? '') ?? '?', result: JSON.parse(String(m.content)) as Record<string, unknown> });
  }
  return out;
}

describe('E2E: a caller books a service appointment by phone', function () {
  this.timeout(120_000);
  let h: CallHarness;
  before(async () => {
    // 8 ms of synthetic speech per character keeps the call short without changing its shape.
    h = await startCallHarness({ deepgram: { speak: { msPerChar: 8 } } });
  });
  after(async () => { await h?.close(); });

  it('Ali Khani is recognised, verified, hears free Tuesday slots, books one and hangs up: one appointment, transcript, CRM log', async () => {
    const tuesday = nextTuesday();
    const script = { offered: [] as Array<{ slot: string; time: string }>, vehicleId: null as string | null, toolsSeen: [] as string[] };
    h.openai.respond((body): FakeTurn | undefined => {
      const last = body.messages[body.messages.length - 1]!;
      if (last.role === 'tool') {
        const results = lastToolResults(body);
        const r = results[0]!;
        script.toolsSeen.push(...results.map((x) => x.name));
        switch (r.name) {
          case 'lookup_customer':
            assert.equal(r.result.account_on_file, true, 'Ali is on file under his caller ID');
            assert.equal(JSON.stringify(r.result).includes('Khani'), false, 'no name is disclosed before verification');
            return { text: 'I can help with that. Could I have your last name and the ZIP code on your account?' };
          case 'verify_customer': {
            assert.equal(r.result.verified, true, JSON.stringify(r.result));
            const vehicles = r.result.vehicles as Array<{ vehicle_id: string }>;
            script.vehicleId = vehicles[0]?.vehicle_id ?? null;
            return { toolCalls: [{ name: 'get_available_slots', arguments: { date: tuesday, service_type: 'oil_change' } }] };
          }
          case 'get_available_slots': {
            script.offered = r.result.slots as Array<{ slot: string; time: string }>;
            assert.ok(script.offered.length > 0, JSON.stringify(r.result));
            return { text: `Thanks Ali. On ${String(r.result.day)} I have ${script.offered.map((s) => s.time).join(', ')}. Which works for you?` };
          }
          case 'book_appointment':
            assert.equal(r.result.booked, true, JSON.stringify(r.result));
            return { text: `You're all set for ${String(r.result.when)}. Is there anything else?` };
          default:
            return { text: 'Okay.' };
        }
      }
      const said = String(last.content ?? '').toLowerCase();
      if (said.includes('oil change')) return { toolCalls: [{ name: 'lookup_customer', arguments: {} }] };
      if (said.includes('khani')) {
        return { toolCalls: [{ name: 'verify_customer', arguments: { first_name: null, last_name: 'Khani', vin_last4: null, zip: '94087' } }] };
      }
      if (said.includes('first one')) {
        return { toolCalls: [{ name: 'book_appointment', arguments: { start: script.offered[0]!.slot, service_type: 'oil_change', vehicle_id: script.vehicleId } }] };
      }
      if (said.includes('bye')) return { text: 'Thanks for calling, Ali. Goodbye!', toolCalls: [{ name: 'end_call', arguments: {} }] };
      return undefined;
    });

    const { callSid, call } = await h.placeInboundCall({ from: ALI, to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);
    const greetingMarks = call.marks.filter((m) => m.name.startsWith('g'));
    assert.equal(greetingMarks.length, 1, 'the greeting played');
    assert.equal(greetingMarks[0]!.cleared, false, 'in full');
    assert.ok(call.playedBytes > 0);

    const turns: Array<[string, number]> = [
      ["Hi, I'd like to book an oil change for next Tuesday morning.", 1200],
      ['Khani, nine four zero eight seven.', 900],
      ['The first one, please.', 700],
      ["No, that's all. Thanks, bye.", 700],
    ];
    for (const [transcript, ms] of turns) {
      const heardBefore = call.playedBytes;
      const took = await callerSays({ h, session, call, transcript, ms });
      assert.equal(took, transcript, 'the STT transcript became the caller turn');
      await agentIdle(session, call, 30_000);
      if (!session.isEnded) assert.ok(call.playedBytes > heardBefore, `the caller heard an answer to "${transcript}"`);
    }

    // end_call: the goodbye plays, then the agent hangs up over REST and closes the stream.
    const closed = await call.waitForClose(15_000);
    assert.equal(closed.code, 1000);
    await session.done;
    // end_call ends the turn: its result goes to no further model request.
    assert.deepEqual(script.toolsSeen, ['lookup_customer', 'verify_customer', 'get_available_slots', 'book_appointment']);
    assert.equal(call.clears.length, 0, 'nothing was cut off: no barge-in in this call');
    assert.ok(call.marks.every((m) => !m.cleared), 'every segment played to its mark');
    const hangUp = h.twilio.requests.find((r) => r.method === 'POST' && r.path.endsWith(`/Calls/${callSid}.json`));
    assert.deepEqual(hangUp?.form, { Status: 'completed' }, 'the agent hung up through the Twilio REST API');

    // Exactly one appointment, Ali's, for the slot he picked: Tuesday morning in the dealership's zone.
    const rows = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const ali = await trx('customers').where({ phone: ALI, last_name: 'Khani' }).first('id');
      const appts = await trx('appointments').where({ customer_id: String(ali.id) }).select('*');
      const call = await trx('calls').where({ call_sid: callSid }).first();
      const events = await trx('call_events').where({ call_id: call.id }).orderBy('id').select('kind', 'payload');
      return { ali, appts, call, events };
    });
    assert.equal(rows.appts.length, 1);
    const appt = rows.appts[0]!;
    assert.equal(appt.service_type, 'oil_change');
    assert.equal(appt.status, 'booked');
    const at = DateTime.fromJSDate(appt.starts_at as Date).setZone(ZONE);
    assert.equal(at.toISODate(), tuesday);
    assert.ok(at.hour < 12, `booked in the morning (${at.toISO()})`);
    assert.equal(at.toFormat('h:mm a'), DateTime.fromISO(script.offered[0]!.slot, { zone: ZONE }).toFormat('h:mm a'), 'the slot he chose');
    const total = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('appointments').where({ status: 'booked' }).count<{ count: string }[]>('* as count'));
    assert.equal(Number(total[0]!.count), 3, 'the two seeded appointments plus his, nothing else');

    // The call row and its transcript.
    assert.equal(rows.call.outcome, 'booked');
    assert.equal(rows.call.customer_id, String(rows.ali.id));
    assert.ok(rows.call.ended_at);
    const utterances = rows.events.filter((e: { kind: string }) => e.kind === 'utterance').map((e: { payload: { role: string; text: string } }) => e.payload);
    assert.deepEqual(utterances.filter((u: { role: string }) => u.role === 'caller').map((u: { text: string }) => u.text), turns.map(([t]) => t));
    const agentLines = utterances.filter((u: { role: string }) => u.role === 'agent').map((u: { text: string }) => u.text);
    assert.match(agentLines[0]!, /Thanks for calling Sunnyvale Honda/);
    assert.ok(agentLines.some((t: string) => t.startsWith("You're all set for")), JSON.stringify(agentLines));
    const toolCalls = rows.events.filter((e: { kind: string }) => e.kind === 'tool_call').map((e: { payload: { name: string } }) => e.payload.name);
    assert.deepEqual(toolCalls, ['lookup_customer', 'verify_customer', 'get_available_slots', 'book_appointment', 'end_call']);
    assert.ok(rows.events.some((e: { kind: string }) => e.kind === 'call_end'));

    // The post-call job logged the interaction to the tenant's CRM.
    const crmLoggedAt = async (): Promise<Date | null> =>
      (await h.p.tenants.withTenant(h.tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first('crm_logged_at')))?.crm_logged_at ?? null;
    let logged = await crmLoggedAt();
    for (let i = 0; i < 400 && !logged; i++) { await new Promise((r) => setTimeout(r, 50)); logged = await crmLoggedAt(); }
    assert.ok(logged, 'the crm-log job ran and stamped the call');
  });
});
