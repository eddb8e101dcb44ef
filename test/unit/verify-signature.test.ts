/**
 * The signature comparison is constant-time: verifySignature compares through crypto's
 * timingSafeEqual (checked both by watching the call and by reading the code), never with a string
 * or early-exit comparison, and refuses signatures of every wrong length.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({ timingSafeEqual: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.timingSafeEqual++;
      return real.timingSafeEqual(a, b);
    },
  };
});

const signing = await import('../../lib/signing.js');
const { sign, verifySignature } = signing;

const KEY = Buffer.alloc(32, 9);
const PARTS = { timestamp: 1_700_000_000, method: 'POST', path: '/v1/reap', body: '{"a":1}' };
const GOOD = sign(KEY, PARTS);

describe('verifySignature', () => {
  it('compares through timingSafeEqual, for a right-length and for a wrong-length signature alike', () => {
    for (const header of [GOOD, `v1=${'0'.repeat(64)}`, '', 'v1=', GOOD.slice(0, -1), `${GOOD}0`]) {
      const before = calls.timingSafeEqual;
      verifySignature(KEY, PARTS, header);
      expect(calls.timingSafeEqual - before, `timingSafeEqual calls for ${JSON.stringify(header.slice(0, 8))}…`).toBe(1);
    }
  });

  it('has no string or early-exit comparison of signatures in its code', () => {
    const source = readFileSync(new URL('../../lib/signing.ts', import.meta.url), 'utf8');
    const start = source.indexOf('export function verifySignature');
    expect(start).toBeGreaterThan(0);
    const body = source.slice(start, source.indexOf('\n}\n', start));
    expect(body).toContain('timingSafeEqual(expected, received)');
    // The one comparison allowed is of the lengths (public: every valid signature has the same one).
    const withoutLengthCheck = body.replace('received.length !== expected.length', '');
    expect(withoutLengthCheck).not.toMatch(/===|!==|==|!=|localeCompare|startsWith|endsWith|includes\(|indexOf\(|\.equals\(|Buffer\.compare/);
    // The agent's middleware leaves the comparison to verifySignature.
    const auth = readFileSync(new URL('../../agent/auth.ts', import.meta.url), 'utf8');
    expect(auth).toContain('verifySignature(');
    expect(auth).not.toMatch(/signature\s*(===|!==|==)|(===|!==|==)\s*signature|sign\(/);
  });

  it('refuses a signature of every wrong length, and every single-character change of the right one', () => {
    expect(verifySignature(KEY, PARTS, GOOD)).toBe(true);
    for (let length = 0; length <= 2 * GOOD.length; length++) {
      if (length === GOOD.length) continue;
      const candidate = (GOOD + GOOD).slice(0, length);
      expect(verifySignature(KEY, PARTS, candidate), `length ${length}`).toBe(false);
    }
    for (let i = 0; i < GOOD.length; i++) {
      const changed = GOOD.slice(0, i) + (GOOD[i] === '0' ? '1' : '0') + GOOD.slice(i + 1);
      expect(verifySignature(KEY, PARTS, changed), `position ${i}`).toBe(false);
    }
    // Multi-byte characters: the byte length differs from the character length.
    expect(verifySignature(KEY, PARTS, `${GOOD.slice(0, -1)}é`)).toBe(false);
  });
});

describe('verifyAnswerSignature', () => {
  it('compares through timingSafeEqual for every header shape, a missing one included', () => {
    const { signAnswer, verifyAnswerSignature } = signing;
    const good = signAnswer(KEY, GOOD, 200, '{"ok":true}');
    for (const header of [good, null, '', `${good}0`, good.slice(0, -1), `v1=${'0'.repeat(64)}`]) {
      const before = calls.timingSafeEqual;
      verifyAnswerSignature(KEY, GOOD, 200, '{"ok":true}', header);
      expect(calls.timingSafeEqual - before, String(header)).toBe(1);
    }
    expect(verifyAnswerSignature(KEY, GOOD, 200, '{"ok":true}', good)).toBe(true);
    const source = readFileSync(new URL('../../lib/signing.ts', import.meta.url), 'utf8');
    const start = source.indexOf('export function verifyAnswerSignature');
    const body = source.slice(start, source.indexOf('\n}\n', start));
    expect(body).toContain('timingSafeEqual(expected, received)');
    expect(body.replace('received.length !== expected.length', '')).not.toMatch(/===|!==|==|!=|localeCompare|startsWith|endsWith|includes\(|indexOf\(|\.equals\(|Buffer\.compare/);
  });
});
