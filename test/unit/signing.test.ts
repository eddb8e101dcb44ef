import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKey, deriveHostKey, sign, verifySignature } from '../../lib/signing.js';

const MASTER = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

describe('signing', () => {
  it('derives the host key as HMAC-SHA256(master, "clawbox-reaper/agent/" + hostId) in hex', () => {
    const expected = createHmac('sha256', Buffer.from(MASTER, 'hex')).update('clawbox-reaper/agent/host-a').digest('hex');
    expect(deriveHostKey(MASTER, 'host-a')).toBe(expected);
    expect(deriveHostKey(MASTER, 'host-b')).not.toBe(expected);
  });

  it('signs timestamp, method, path and body hash exactly as the contract says', () => {
    const key = decodeKey(deriveHostKey(MASTER, 'h'));
    const body = '{"a":1}';
    const canonical = `1700000000\nPOST\n/v1/reap?x=1\n${createHash('sha256').update(body).digest('hex')}`;
    const expected = `v1=${createHmac('sha256', key).update(canonical).digest('hex')}`;
    expect(sign(key, { timestamp: 1700000000, method: 'post', path: '/v1/reap?x=1', body })).toBe(expected);
  });

  it('hashes an empty body as the empty string', () => {
    const key = decodeKey(MASTER);
    const canonical = `1\nGET\n/v1/containers\n${createHash('sha256').update('').digest('hex')}`;
    expect(sign(key, { timestamp: 1, method: 'GET', path: '/v1/containers', body: '' })).toBe(`v1=${createHmac('sha256', key).update(canonical).digest('hex')}`);
  });

  it('verifies only the exact signature', () => {
    const key = decodeKey(MASTER);
    const parts = { timestamp: 5, method: 'POST', path: '/v1/reap', body: 'x' };
    const good = sign(key, parts);
    expect(verifySignature(key, parts, good)).toBe(true);
    expect(verifySignature(key, { ...parts, body: 'y' }, good)).toBe(false);
    expect(verifySignature(key, { ...parts, path: '/v1/containers' }, good)).toBe(false);
    expect(verifySignature(key, parts, good.slice(0, -1))).toBe(false);
    expect(verifySignature(key, parts, '')).toBe(false);
  });

  it('refuses short or non-hex keys without echoing them', () => {
    expect(() => decodeKey('abcd')).toThrow(/at least 32 bytes/);
    expect(() => decodeKey('zz'.repeat(32))).toThrow(/must be hex/);
    try {
      decodeKey('secretsecret');
    } catch (error) {
      expect((error as Error).message).not.toContain('secretsecret');
    }
  });
});
