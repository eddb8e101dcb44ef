import { describe, expect, it } from 'vitest';
import { loadReaperConfig, ReaperConfigError } from '../../functions/reaper/config.js';

const KEY = 'ab'.repeat(32);

describe('reaper config', () => {
  it('has safe defaults (SPEC §7) and is frozen', () => {
    const config = loadReaperConfig({ REAPER_MASTER_KEY: KEY });
    expect(config).toMatchObject({
      tablePrefix: 'clawbox-reaper-',
      graceSeconds: 120,
      stopTimeoutSeconds: 5,
      maxReap: 100,
      hostConcurrency: 32,
      reportTtlDays: 90,
      masterKey: KEY,
      masterKeyParam: undefined,
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every setting', () => {
    const config = loadReaperConfig({
      REAPER_MASTER_KEY_PARAM: '/clawbox-reaper/prod/master-key',
      REAPER_TABLE_PREFIX: 'x-',
      REAPER_GRACE_SECONDS: '300',
      REAPER_STOP_TIMEOUT_SECONDS: '10',
      REAPER_MAX_REAP: '0',
      REAPER_HOST_CONCURRENCY: '8',
      REAPER_REPORT_TTL_DAYS: '7',
      REAPER_AGENT_TIMEOUT_SECONDS: '30',
      REAPER_AGENT_ATTEMPTS: '1',
      REAPER_REPORT_MARGIN_SECONDS: '20',
      REAPER_LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      masterKey: undefined,
      masterKeyParam: '/clawbox-reaper/prod/master-key',
      tablePrefix: 'x-',
      graceSeconds: 300,
      stopTimeoutSeconds: 10,
      maxReap: 0,
      hostConcurrency: 8,
      reportTtlDays: 7,
      agentTimeoutMs: 30_000,
      agentAttempts: 1,
      reportMarginMs: 20_000,
      logLevel: 'debug',
    });
  });

  it('treats an empty variable as unset, never as 0', () => {
    expect(loadReaperConfig({ REAPER_MASTER_KEY: KEY, REAPER_GRACE_SECONDS: '' }).graceSeconds).toBe(120);
  });

  it('lists every problem in one error, without echoing the key', () => {
    const badKey = 'cd'.repeat(8);
    let error: unknown;
    try {
      loadReaperConfig({ REAPER_MASTER_KEY: badKey, REAPER_GRACE_SECONDS: '2m', REAPER_HOST_CONCURRENCY: '0', REAPER_MAX_REAP: '1e3', REAPER_LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReaperConfigError);
    const message = (error as Error).message;
    for (const name of ['REAPER_MASTER_KEY', 'REAPER_GRACE_SECONDS', 'REAPER_HOST_CONCURRENCY', 'REAPER_MAX_REAP', 'REAPER_LOG_LEVEL']) expect(message).toContain(name);
    expect(message).not.toContain(badKey);
  });

  it('wants exactly one master key source', () => {
    expect(() => loadReaperConfig({})).toThrow(/REAPER_MASTER_KEY.*REAPER_MASTER_KEY_PARAM/s);
    expect(() => loadReaperConfig({ REAPER_MASTER_KEY: KEY, REAPER_MASTER_KEY_PARAM: '/k' })).toThrow(/only one/);
    expect(() => loadReaperConfig({ REAPER_MASTER_KEY_PARAM: 'no-slash' })).toThrow(/REAPER_MASTER_KEY_PARAM/);
  });
});
