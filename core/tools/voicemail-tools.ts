import { VOICEMAIL_REQUEST_TTL_SEC, voicemailRequestKey } from '../telephony/voicemail.js';
import { defineTool, type CompiledTool } from './define.js';

/**
 * leave_message: the caller would rather leave a message than talk to the assistant. The tool marks the call
 * (state store, keyed by the server-side CallSid) and ends the conversation; the session's hang-up then
 * redirects the call to <Record> instead (core/telephony/telephony.ts), and the recording becomes a callback
 * task with its transcript (docs/voicemail.md). Offered to everyone, verified or not: a message needs no account.
 */
const leaveMessage = defineTool({
  name: 'leave_message',
  description: 'The caller wants to leave a voice message for the service team. Tell them to speak after the tone; the call then switches to recording.',
  access: 'always',
  params: {},
  async run(ctx) {
    if (!ctx.state) return { content: { recording: false, message: 'Messages cannot be recorded right now. Offer a callback instead.' } };
    await ctx.state.set(voicemailRequestKey(ctx.identity.callSid), '1', VOICEMAIL_REQUEST_TTL_SEC);
    ctx.logger.info({ tenantId: ctx.tenant.id, callSid: ctx.identity.callSid }, 'caller asked to leave a message');
    return { content: { recording: true, say: 'After the tone, please leave your message.' }, control: 'end' };
  },
});

export const VOICEMAIL_TOOLS: readonly CompiledTool[] = [leaveMessage];
