import type { AnyPluginManifest } from '../core/sdk/index.js';
import crmBuiltin from './crm-builtin/index.js';
import crmTwenty from './crm-twenty/index.js';
import calendarBuiltin from './calendar-builtin/index.js';
import calendarGoogle from './calendar-google/index.js';
import vehicleNhtsa from './vehicle-nhtsa/index.js';
import notifyLog from './notify-log/index.js';
import notifySes from './notify-ses/index.js';
import notifySmtp from './notify-smtp/index.js';
import telephonyTwilio from './telephony-twilio/index.js';
import sttDeepgram from './stt-deepgram/index.js';
import llmOpenai from './llm-openai/index.js';
import ttsDeepgram from './tts-deepgram/index.js';
import crmSalesforce from './crm-salesforce/index.js';
import crmAttio from './crm-attio/index.js';
import ttsElevenlabs from './tts-elevenlabs/index.js';

/** First-party plugins, listed explicitly (no folder scanning): the registry loads exactly these plus configured npm packages. */
export const firstPartyPlugins: AnyPluginManifest[] = [
  crmBuiltin,
  crmTwenty,
  calendarBuiltin,
  calendarGoogle,
  vehicleNhtsa,
  notifyLog,
  telephonyTwilio,
  sttDeepgram,
  llmOpenai,
  ttsDeepgram,
  notifySes,
  notifySmtp,
  crmSalesforce,
  crmAttio,
  ttsElevenlabs,
];
