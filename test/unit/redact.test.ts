/**
 * Redaction for forensic records (agent/redact.ts, S9): examples of every rule, and properties —
 * a planted secret never survives, whatever surrounds it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { demultiplex, logText } from '../../agent/forensics.js';
import { MASK, envValues, redact, redactCommand, tailBytes } from '../../agent/redact.js';

const PEM = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun', 'VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK', '-----END RSA PRIVATE KEY-----'].join('\n');

describe('redact', () => {
  it.each([
    ['an AWS access key id', 'key AKIAIOSFODNN7EXAMPLE used', 'AKIAIOSFODNN7EXAMPLE'],
    ['a temporary AWS key id', 'ASIAY34FZKBOKMUTVV7A', 'ASIAY34FZKBOKMUTVV7A'],
    ['an AWS secret key', 'aws_secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['password=', 'connecting with password=hunter2!x', 'hunter2!x'],
    ['DB_PASSWORD:', 'DB_PASSWORD: "s3cr3t value"', 's3cr3t value'],
    ['a JSON token', '{"access_token": "abc.def-123", "user": "bob"}', 'abc.def-123'],
    ['an API key env line', 'OPENAI_API_KEY=opensesame', 'opensesame'],
    ['a secret flag', 'run --client-secret letmein now', 'letmein'],
    ['a Bearer token', 'Authorization: Bearer abcdefghij0123', 'abcdefghij0123'],
    ['a JWT', 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ok', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'],
    ['URL credentials', 'postgres://app:pa55word@db:5432/x', 'pa55word'],
    ['a GitHub token', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
    ['a long hex secret', 'sig 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', '9f86d081884c7d659a2feaa0c55ad015'],
    ['a PEM private key', `before\n${PEM}\nafter`, 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun'],
  ])('masks %s', (_name, text, secret) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain(MASK);
  });

  it('keeps the text around a PEM block and the name of an assignment', () => {
    expect(redact(`before\n${PEM}\nafter`)).toBe(`before\n${MASK}\nafter`);
    expect(redact('password=hunter2 next')).toBe(`password=${MASK} next`);
  });

  it('masks a PEM block cut by the tail, at either end', () => {
    const lines = PEM.split('\n');
    expect(redact(lines.slice(0, 2).join('\n'))).toBe(MASK);
    const tailOnly = redact(`${lines.slice(2).join('\n')}\nlater line`);
    expect(tailOnly).not.toContain('VTLw7onLRnrq0');
    expect(tailOnly).toBe(`${MASK}\nlater line`);
  });

  it('masks environment values verbatim, longest first, and leaves ordinary text alone', () => {
    const secrets = envValues(['TOKEN=tok-1234', 'LONG=tok-1234-and-more', 'SHORT=on', 'EMPTY=', 'NOEQUALS']);
    expect(secrets).toEqual(['tok-1234-and-more', 'tok-1234']);
    expect(redact('a tok-1234-and-more b tok-1234 c on', { secrets })).toBe(`a ${MASK} b ${MASK} c on`);
    expect(redact('server listening on port 8080, 3 workers ready')).toBe('server listening on port 8080, 3 workers ready');
    expect(redact('/usr/local/lib/node_modules/some-package/dist/index.js')).toBe('/usr/local/lib/node_modules/some-package/dist/index.js');
  });

  it('masks the value after a secret flag in a command', () => {
    expect(redactCommand(['app', '--password', 'hunter2', '--port', '80'])).toEqual(['app', '--password', MASK, '--port', '80']);
    expect(redactCommand(['sh', '-c', 'echo AKIAIOSFODNN7EXAMPLE'])).toEqual(['sh', '-c', `echo ${MASK}`]);
  });

  it('costs linear time on a long run of word characters', () => {
    const text = `${'a'.repeat(300_000)} ${'x_'.repeat(100_000)}=1`;
    const started = performance.now();
    redact(text);
    // Generous: a quadratic pattern takes minutes here.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('properties', () => {
  const secretChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/.!@#%'.split(''));
  const secret = fc.string({ unit: secretChars, minLength: 8, maxLength: 48 }).filter((s) => !MASK.includes(s));
  const noise = fc.string({ maxLength: 200 });

  it('an environment value planted anywhere in the logs never survives', () => {
    fc.assert(
      fc.property(secret, noise, noise, (value, before, after) => {
        const secrets = envValues([`API_SECRET=${value}`, 'HOME=/root']);
        expect(redact(`${before}${value}${after}`, { secrets })).not.toContain(value);
      }),
      { numRuns: 500 },
    );
  });

  it('a secret in an assignment to a secret-looking name never survives, without its env', () => {
    const name = fc.constantFrom('password', 'DB_PASSWORD', 'token', 'api_key', 'SECRET', 'aws_secret_access_key', 'X-Auth-Token', 'client_secret');
    const value = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-+/.!@#%'.split('')), minLength: 6, maxLength: 40 }).filter((s) => !MASK.includes(s));
    const sep = fc.constantFrom('=', ': ', ' = ', ':');
    const line = fc.string({ unit: fc.constantFrom(...'abc XYZ 123\n.'.split('')), maxLength: 40 });
    fc.assert(
      fc.property(line, name, sep, value, line, (before, n, s, v, after) => {
        expect(redact(`${before} ${n}${s}${v} ${after}`)).not.toContain(v);
      }),
      { numRuns: 500 },
    );
  });

  it('AWS key ids and PEM bodies never survive, and redaction is idempotent', () => {
    const upperDigits = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('')), minLength: 16, maxLength: 16 });
    const body = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('')), minLength: 20, maxLength: 64 });
    fc.assert(
      fc.property(fc.constantFrom('AKIA', 'ASIA'), upperDigits, body, noise, (prefix, rest, b, around) => {
        const text = `${around} ${prefix}${rest}\n-----BEGIN PRIVATE KEY-----\n${b}\n-----END PRIVATE KEY-----\n${around}`;
        const out = redact(text);
        expect(out).not.toContain(`${prefix}${rest}`);
        expect(out).not.toContain(b);
        expect(redact(out)).toBe(out);
      }),
      { numRuns: 300 },
    );
  });

  it('the kept tail is at most the byte limit, valid UTF-8, and the end of the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 3000 }), fc.integer({ min: 16, max: 4096 }), (text, max) => {
        const { text: kept, truncated } = tailBytes(text, max);
        expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(max);
        expect(text.endsWith(kept)).toBe(true);
        expect(truncated).toBe(Buffer.byteLength(text) > max);
      }),
      { numRuns: 300 },
    );
  });
});

describe('log text', () => {
  const frame = (stream: number, text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('demultiplexes both streams in order, keeping a truncated last frame', () => {
    const raw = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    expect(demultiplex(raw).toString()).toBe('out 1\nerr 1\nout 2\n');
    expect(demultiplex(raw.subarray(0, raw.length - 2)).toString()).toBe('out 1\nerr 1\nout ');
  });

  it('drops a first line the tail may have cut, and redacts before it keeps the last 4 KB', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i} password=pw-${i}`);
    const raw = Buffer.concat(lines.map((l) => frame(1, `${l}\n`)));
    const { text, truncated } = logText(raw, { tty: false, tailLines: 100, maxRawBytes: 1 << 20, secrets: [] });
    expect(truncated).toBe(true);
    expect(text.startsWith('line 0 ')).toBe(false);
    expect(text).not.toMatch(/pw-\d/);
    expect(text.endsWith(`line 99 password=${MASK}\n`)).toBe(true);
  });

  it('keeps a TTY log as it is, and a short log whole', () => {
    const { text, truncated } = logText(Buffer.from('hello\r\nworld\r\n'), { tty: true, tailLines: 100, maxRawBytes: 1 << 20, secrets: [] });
    expect(text).toBe('hello\r\nworld\r\n');
    expect(truncated).toBe(false);
  });
});
