/**
 * The real reaper for tests that judge what it removes: v1 removal (no quarantine), no grace, no
 * proportional guard, no stop wait — so that a wrong decision shows as a removed container.
 * Each test overrides what it is about.
 */
import type { Logger } from '../../lib/logger.js';
import { DEFAULT_REAP_SETTINGS, type ReapSettings } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper, type Reaper } from '../../functions/reaper/run.js';
import type { Store } from '../../functions/store/index.js';

export const STRICT_TEST_SETTINGS: Readonly<ReapSettings> = Object.freeze({
  ...DEFAULT_REAP_SETTINGS,
  graceSeconds: 0,
  quarantineSeconds: 0,
  maxReapPercent: 100,
  stopTimeoutSeconds: 0,
  agentAttempts: 1,
  reportMarginMs: 1000,
});

export function testReaper(options: { store: Store; masterKey: string; logger: Logger; settings?: Partial<ReapSettings>; now?: () => number }): Reaper {
  return createReaper({
    store: options.store,
    masterKey: staticMasterKey(options.masterKey),
    logger: options.logger,
    settings: { ...STRICT_TEST_SETTINGS, ...options.settings },
    ...(options.now ? { now: options.now } : {}),
  });
}
