// Issue 9.3: inbound calls while the state store (Redis) is unreachable and Postgres is healthy. The replay
// claim and the one-time stream token fall back to Postgres (core/telephony/call-keys.ts), so the signed
// webhook still gets its stream, a replay is still refused, and the call runs through the media socket.
// Redis here is a real redis-server of our own, killed for the test (tenancy-security §6.1 #21).
import assert from 'node:assert/strict';
import { connectMediaStream } from '../fakes/twilio-media.js';
import { newSid } from '../fakes/twilio-webhooks.js';
import { TEST_ACCOUNT_SID, callerSays, parseStreamTwiml, startCallHarness, voiceSession, type CallHarness } from '../helpers/call-harness.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../helpers/throwaway-redis.js';

const ALI = '+14086137788';

describe('inbound calls while the state store is down (Redis unreachable, Postgres healthy)', function () {
  this.timeout(90_000);
  let redis: ThrowawayRedis;
  let h: CallHarness;

  before(async () => {
    redis = await startThrowawayRedis();
    h = await startCallHarness({ state: 'redis', env: { REDIS_URL: redis.url } });
  });
  beforeEach(async () => { if (redis.running) await redis.stop(); });
  after(async () => {
    if (redis && !redis.running) await redis.start();
    await h?.close();
    await redis?.close();
  });

  async function redisBack(): Promise<void> {
    await redis.start();
    for (let i = 0; !(await h.p.state.ping()); i++) {
      if (i > 200) throw new Error('state store did not reconnect');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('answers the signed webhook with 200 and a working stream, refuses a replay, and the call runs over the media socket', async () => {
    assert.equal(await h.p.state.ping(), false, 'Redis really is unreachable');
    const callsBefore = await h.countCalls();
    const routesBefore = await h.countRoutes();
    const callSid = newSid('CA');
    const first = await h.postVoice({ from: ALI, callSid });
    assert.equal(first.res.status, 200, first.res.body);
    const stream = parseStreamTwiml(first.res.body);
    assert.ok(stream, `stream TwiML: ${first.res.body}`);

    // Twilio retries (or an attacker replays) the same signed webhook: same answer, no second call, no new token.
    const replay = await h.postVoice({ params: first.params, idempotencyToken: 'another-header' });
    assert.equal(replay.res.status, 200);
    assert.equal(replay.res.body, first.res.body, 'the replay gets the first answer, not a new token');
    assert.equal(await h.countCalls(), callsBefore + 1);
    assert.equal(await h.countRoutes(), routesBefore + 1);

    const call = await connectMediaStream({ url: h.localUrl(stream.url), callSid, accountSid: TEST_ACCOUNT_SID, customParameters: { callToken: stream.callToken }, fast: true });
    const session = await voiceSession(h.p, callSid);
    assert.equal(session.isEnded, false, 'the call is live');
    await call.waitFor((c) => c.messagesOf('media').length > 0, 10_000, 'the greeting audio');
    // A whole turn from Redis-less state: the caller speaks, the agent hears it and asks the model.
    const llmBefore = h.openai.requests.length;
    assert.equal(await callerSays({ h, session, call, transcript: 'I need an oil change next week' }), 'I need an oil change next week');
    await call.waitFor(() => h.openai.requests.length > llmBefore, 10_000, 'the model request for the caller turn');

    // The token was spent on the first stream: a second socket with it is refused.
    const again = await connectMediaStream({ url: h.localUrl(stream.url), callSid, accountSid: TEST_ACCOUNT_SID, customParameters: { callToken: stream.callToken }, fast: true });
    assert.equal((await again.waitForClose(5000)).code, 1008);
    call.stop();
    await call.waitForClose(5000);
  });

  it('still refuses a replay and still honours the stream token after Redis comes back empty', async () => {
    const callSid = newSid('CA');
    const first = await h.postVoice({ from: ALI, callSid });
    assert.equal(first.res.status, 200);
    const stream = parseStreamTwiml(first.res.body)!;
    await redisBack();
    const callsBefore = await h.countCalls();
    const replay = await h.postVoice({ params: first.params });
    assert.equal(replay.res.body, first.res.body, 'the claim made during the outage still dedupes');
    assert.equal(await h.countCalls(), callsBefore);
    const call = await connectMediaStream({ url: h.localUrl(stream.url), callSid, accountSid: TEST_ACCOUNT_SID, customParameters: { callToken: stream.callToken }, fast: true });
    const session = await voiceSession(h.p, callSid);
    assert.equal(session.isEnded, false);
    call.stop();
    await call.waitForClose(5000);
  });

  it('answers 200 TwiML that apologises and transfers to the dealership when the call cannot be set up, never a 500', async () => {
    const schema = (await h.p.tenants.get(h.tenantId)).schema;
    await h.p.db.raw(`alter table "${schema}".calls rename to calls_unavailable`);
    try {
      const routesBefore = await h.countRoutes();
      const { res } = await h.postVoice({ from: ALI });
      assert.equal(res.status, 200);
      assert.equal(parseStreamTwiml(res.body), null, 'no stream');
      assert.match(res.body, /<Say>[^<]*service desk[^<]*<\/Say><Dial timeout="30">\+14085550100<\/Dial>/, res.body);
      assert.equal(await h.countRoutes(), routesBefore, 'nothing half-written');
    } finally {
      await h.p.db.raw(`alter table "${schema}".calls_unavailable rename to calls`);
    }
  });
});
