import crypto from 'node:crypto';
import { ServiceLaneError } from '../errors.js';
/** AES-256-GCM with the tenant id as associated data, so a ciphertext copied to another tenant won't open. */
export function encryptCredential(key, tenantId, value) {
    if (key.length !== 32)
        throw new ServiceLaneError('TEN_ERR_CREDENTIAL_KEY', 'CREDENTIALS_KEY is not configured');
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(tenantId));
    const ciphertext = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return { ciphertext, iv, tag: c.getAuthTag() };
}
export function decryptCredential(key, tenantId, row) {
    try {
        const d = crypto.createDecipheriv('aes-256-gcm', key, row.iv);
        d.setAAD(Buffer.from(tenantId));
        d.setAuthTag(row.tag);
        return JSON.parse(Buffer.concat([d.update(row.ciphertext), d.final()]).toString('utf8'));
    }
    catch (e) {
        throw new ServiceLaneError('TEN_ERR_CREDENTIAL_KEY', 'stored credential cannot be decrypted with CREDENTIALS_KEY', undefined, { cause: e });
    }
}
//# sourceMappingURL=credentials.js.map