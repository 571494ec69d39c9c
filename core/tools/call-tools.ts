import { defineTool, type CompiledTool } from './define.js';

/**
 * transfer_to_human: the destination is the tenant's configured number, never one the model names (premium
 * rate dialling via injection is a known fraud pattern). The voice session acts on `control: 'transfer'`.
 */
const transferToHuman = defineTool({
  name: 'transfer_to_human',
  description: 'Transfer the caller to a service advisor (the dealership’s own line).',
  access: 'always',
  reminderCall: 'also',
  params: { reason: { type: 'string', nullable: true, maxLength: 300, description: 'Why, in a few words, or null.' } },
  async run(ctx) {
    if (!ctx.config.transferNumber) {
      return { content: { transferring: false, message: 'No advisor line is available. Offer to take a message for a callback.' } };
    }
    return { content: { transferring: true }, control: 'transfer' };
  },
});

const endCall = defineTool({
  name: 'end_call',
  description: 'End the call after saying goodbye.',
  access: 'always',
  reminderCall: 'also',
  params: {},
  async run() {
    return { content: { ending: true }, control: 'end' };
  },
});

export const CALL_TOOLS: readonly CompiledTool[] = [transferToHuman, endCall];
