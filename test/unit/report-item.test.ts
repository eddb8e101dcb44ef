import { describe, expect, it } from 'vitest';
import type { ContainerReport } from '../../lib/agent-contract.js';
import { buildReportItem, capContainers, REPORT_LIMITS } from '../../functions/store/report-item.js';
import { withBackoff, jitteredDelay } from '../../lib/backoff.js';
import { isRetryableDynamoError } from '../../functions/store/dynamo-errors.js';

const entry = (i: number, action: ContainerReport['action'] = 'removed', extra = ''): ContainerReport => ({
  clawboxId: `c-${i}${extra}`,
  dockerId: i.toString(16).padStart(64, '0'),
  state: 'running',
  createdAt: '2026-11-27T00:00:00.000Z',
  action,
});

describe('report items', () => {
  it('caps by entries, keeping failures and removals before skipped-young', () => {
    const list = [...Array.from({ length: 1200 }, (_, i) => entry(i, 'skipped-young')), entry(5000, 'failed'), entry(5001, 'removed')];
    const { containers, truncated } = capContainers(list);
    expect(truncated).toBe(true);
    expect(containers).toHaveLength(REPORT_LIMITS.maxEntries);
    expect(containers[0]!.clawboxId).toBe('c-5000');
    expect(containers[1]!.clawboxId).toBe('c-5001');
  });

  it('caps by bytes when entries are large, and stays whole when small', () => {
    const big = Array.from({ length: 900 }, (_, i) => entry(i, 'removed', 'x'.repeat(240)));
    const capped = capContainers(big);
    expect(capped.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(capped.containers))).toBeLessThanOrEqual(REPORT_LIMITS.maxContainerBytes);
    expect(capContainers([entry(1)])).toEqual({ containers: [entry(1)], truncated: false });
  });

  it('an item without an agent answer has null counts, an empty list, the sort key and the TTL', () => {
    const item = buildReportItem(
      { hostId: 'h', runId: 'run-12345678', trigger: 'schedule', status: 'unreachable', error: 'e', startedAt: '2026-11-27T03:15:00.000Z', finishedAt: '2026-11-27T03:15:01.000Z', durationMs: 1000, dryRun: false, force: false, attempts: 3 },
      { ttlDays: 90, nowMs: Date.parse('2026-11-27T03:15:01.000Z') },
    );
    expect(item).toMatchObject({ sk: '2026-11-27T03:15:00.000Z#run-12345678', day: '2026-11-27', counts: null, containers: [], containersTotal: 0, truncated: false });
    expect(item.expiresAt).toBe(Date.parse('2026-11-27T03:15:01.000Z') / 1000 + 90 * 86400);
  });
});

describe('backoff', () => {
  it('retries only what is retryable, and no further than the deadline', async () => {
    let calls = 0;
    await expect(
      withBackoff(
        () => {
          calls++;
          return Promise.reject(new Error('nope'));
        },
        { attempts: 5, baseMs: 1, capMs: 2, isRetryable: () => false },
      ),
    ).rejects.toThrow('nope');
    expect(calls).toBe(1);

    calls = 0;
    const value = await withBackoff(
      (attempt) => {
        calls++;
        return attempt < 3 ? Promise.reject(new Error('flaky')) : Promise.resolve('done');
      },
      { attempts: 5, baseMs: 1, capMs: 2, isRetryable: () => true },
    );
    expect([value, calls]).toEqual(['done', 3]);

    calls = 0;
    await expect(
      withBackoff(
        () => {
          calls++;
          return Promise.reject(new Error('down'));
        },
        { attempts: 10, baseMs: 100, capMs: 100, deadlineAt: Date.now() + 50, isRetryable: () => true, random: () => 1 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(1);
  });

  it('jitter stays within [0, min(cap, base·2^n))', () => {
    expect(jitteredDelay(0, 100, 1000, () => 0.999)).toBeLessThan(100);
    expect(jitteredDelay(10, 100, 1000, () => 0.999)).toBeLessThan(1000);
    expect(jitteredDelay(3, 100, 1000, () => 0)).toBe(0);
  });

  it('classifies DynamoDB errors', () => {
    const sdk = (name: string, status?: number) => Object.assign(new Error(name), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }) });
    expect(isRetryableDynamoError(sdk('ProvisionedThroughputExceededException', 400))).toBe(true);
    expect(isRetryableDynamoError(sdk('ThrottlingException', 400))).toBe(true);
    expect(isRetryableDynamoError(sdk('InternalServerError', 500))).toBe(true);
    expect(isRetryableDynamoError(sdk('ValidationException', 400))).toBe(false);
    expect(isRetryableDynamoError(sdk('ConditionalCheckFailedException', 400))).toBe(false);
    expect(isRetryableDynamoError(sdk('ECONNRESET'))).toBe(true);
  });
});
