/**
 * The platform environment a plugin sees as `ctx.env`: the provider endpoints and platform keys of the env
 * contract (DESIGN §4), under their variable names, taken from the validated config (nothing reads
 * process.env). URL overrides are what let tests point real SDKs at loopback fakes.
 */
export function pluginEnv(cfg) {
    return Object.freeze({
        PUBLIC_BASE_URL: cfg.publicBaseUrl,
        OPENAI_API_KEY: cfg.openai.apiKey,
        OPENAI_BASE_URL: cfg.openai.baseUrl,
        DEEPGRAM_API_KEY: cfg.deepgram.apiKey,
        DEEPGRAM_BASE_URL: cfg.deepgram.baseUrl,
        TWILIO_ACCOUNT_SID: cfg.twilio.accountSid,
        TWILIO_AUTH_TOKEN: cfg.twilio.authToken,
        TWILIO_API_BASE_URL: cfg.twilio.apiBaseUrl,
        GOOGLE_API_ROOT_URL: cfg.google.apiRootUrl,
        GOOGLE_TOKEN_URL: cfg.google.tokenUrl,
        GOOGLE_CLIENT_ID: cfg.google.clientId,
        GOOGLE_CLIENT_SECRET: cfg.google.clientSecret,
        NHTSA_BASE_URL: cfg.nhtsaBaseUrl,
    });
}
//# sourceMappingURL=env.js.map