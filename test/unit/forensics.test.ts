/**
 * A reap's records stay bounded whatever the orphans hold (agent/forensics.ts): thousands of
 * orphans with long commands and full logs fit well inside the agent's answer limit. The port is
 * a fake: the sizes, not the engine, are under test.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_CHARS, RECORD_DEFAULTS, SHORT_COMMAND_CHARS, takeRecords, type ForensicsPort } from '../../agent/forensics.js';
import { MAX_ANSWER_BYTES } from '../../lib/agent-client.js';
import { ForensicRecord } from '../../lib/agent-contract.js';

const frame = (text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

const port: ForensicsPort = {
  inspect: async () => ({ image: 'img', command: ['sh', '-c', 'w'.repeat(10_000)], env: ['SECRET=abcdefgh'], tty: false, running: false, exitCode: 1, restartCount: 0, created: '2026-01-01T00:00:00Z', started: '0001-01-01T00:00:00Z' }),
  logs: async () => Buffer.concat(Array.from({ length: 60 }, (_, i) => frame(`${'line '.repeat(20)}${i} abcdefgh\n`))),
};

describe('a reap of many orphans', () => {
  it('keeps every record valid and the whole set far below the answer limit', async () => {
    const n = 10_000;
    const records = await takeRecords(port, Array.from({ length: n }, (_, i) => ({ dockerId: `d${i}`, image: 'img' })), { concurrency: 16 });
    const all = [...records.values()];
    for (const r of all) ForensicRecord.parse(r);
    const bytes = Buffer.byteLength(JSON.stringify(all));
    expect(bytes).toBeLessThan(MAX_ANSWER_BYTES / 3);
    // The first ones are whole; once the budget is spent, commands are short and logs left out.
    expect(all[0]!.command.join(' ').length).toBeLessThanOrEqual(COMMAND_CHARS + 2);
    expect(all[0]!.logs).toContain(`59 [REDACTED]`);
    expect(all[0]!.startedAt).toBeUndefined();
    expect(all[0]!.exitCode).toBe(1);
    const last = all[n - 1]!;
    expect(last.logs).toBeUndefined();
    expect(last.note).toContain('budget is spent');
    expect(last.command.join(' ').length).toBeLessThanOrEqual(SHORT_COMMAND_CHARS + 2);
    const withLogs = all.filter((r) => r.logs !== undefined).length;
    expect(withLogs).toBeGreaterThan(100);
    expect(withLogs).toBeLessThan(RECORD_DEFAULTS.reapBudgetBytes / 4096 + 1);
  });
});
