import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONTENT_HASH_HEADER, decodeKey, deriveHostKey, EMPTY_BODY_SHA256, sign, signAnswer, signatureHex, signedHeaders, verifyAnswerSignature, verifySignature } from '../../lib/signing.js';

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

  it('signs the X-Reaper-Content-SHA256 value as the body hash: the same signature as over the body itself', () => {
    const key = decodeKey(MASTER);
    const body = '{"runId":"r"}';
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const bySha = sign(key, { timestamp: 9, method: 'POST', path: '/v1/reap', bodyHash });
    expect(bySha).toBe(sign(key, { timestamp: 9, method: 'POST', path: '/v1/reap', body }));
    expect(verifySignature(key, { timestamp: 9, method: 'POST', path: '/v1/reap', bodyHash }, bySha)).toBe(true);
    expect(verifySignature(key, { timestamp: 9, method: 'POST', path: '/v1/reap', bodyHash: EMPTY_BODY_SHA256 }, bySha)).toBe(false);
    expect(sign(key, { timestamp: 9, method: 'GET', path: '/x', bodyHash: EMPTY_BODY_SHA256 })).toBe(sign(key, { timestamp: 9, method: 'GET', path: '/x', body: '' }));
  });

  it('signedHeaders sends the content hash with a body, and none without', () => {
    const key = decodeKey(MASTER);
    const body = '{"a":"ä"}';
    const withBody = signedHeaders(key, { method: 'POST', path: '/v1/reap', body }, 1_700_000_000_000);
    expect(withBody).toEqual({
      'x-reaper-timestamp': '1700000000',
      'x-reaper-signature': sign(key, { timestamp: 1_700_000_000, method: 'POST', path: '/v1/reap', body }),
      [CONTENT_HASH_HEADER]: createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex'),
    });
    expect(Object.keys(signedHeaders(key, { method: 'GET', path: '/v1/containers', body: '' }))).toEqual(['x-reaper-timestamp', 'x-reaper-signature']);
  });

  it('signs answers as HMAC(hostKey, requestSignatureHex + "\\n" + status + "\\n" + sha256hex(body))', () => {
    const key = decodeKey(deriveHostKey(MASTER, 'h'));
    const request = sign(key, { timestamp: 1, method: 'POST', path: '/v1/reap', body: '{}' });
    const hex = signatureHex(request)!;
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    const body = '{"counts":{"removed":1}}';
    const expected = `v1=${createHmac('sha256', key).update(`${hex}\n200\n${createHash('sha256').update(body).digest('hex')}`).digest('hex')}`;
    expect(signAnswer(key, request, 200, body)).toBe(expected);
    expect(signAnswer(key, hex, 200, Buffer.from(body))).toBe(expected);
    expect(verifyAnswerSignature(key, request, 200, body, expected)).toBe(true);
    // Another body, status, request or key; a missing, truncated or bare header: all refused.
    expect(verifyAnswerSignature(key, request, 200, body.replace('1', '0'), expected)).toBe(false);
    expect(verifyAnswerSignature(key, request, 409, body, expected)).toBe(false);
    expect(verifyAnswerSignature(key, sign(key, { timestamp: 2, method: 'POST', path: '/v1/reap', body: '{}' }), 200, body, expected)).toBe(false);
    expect(verifyAnswerSignature(decodeKey(MASTER), request, 200, body, expected)).toBe(false);
    for (const header of [null, undefined, '', expected.slice(0, -1), expected.slice(3), `${expected},${expected}`]) {
      expect(verifyAnswerSignature(key, request, 200, body, header), String(header)).toBe(false);
    }
    expect(signatureHex('v1=abc')).toBeUndefined();
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
