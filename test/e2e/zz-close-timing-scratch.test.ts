import { startCallHarness } from '../helpers/call-harness.js';
describe('close timing', function () {
  this.timeout(120000);
  for (let i = 0; i < 3; i++) it('measures ' + i, async () => {
    const h = await startCallHarness();
    const { call } = await h.placeInboundCall({ from: '+14086137788' });
    await new Promise((r) => setTimeout(r, 1500));
    call.stop();
    await new Promise((r) => setTimeout(r, 200));
    let t = Date.now(); await h.tp.p.close(); console.log('p.close', Date.now() - t);
    t = Date.now(); await h.tp.db.drop(); console.log('db.drop', Date.now() - t);
    t = Date.now(); await Promise.all([h.openai.close()]); console.log('openai', Date.now() - t);
    t = Date.now(); await Promise.all([h.deepgram.close()]); console.log('dg', Date.now() - t);
    t = Date.now(); await Promise.all([h.twilio.close()]); console.log('tw', Date.now() - t);
  });
});
