import { describe, expect, it } from 'vitest';
import { InvalidEventError, runRequestFromEvent } from '../../functions/reaper/events.js';
import { AgentCallError } from '../../lib/agent-client.js';
import { failureStatus } from '../../functions/reaper/outcome.js';

const scheduled = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-27T03:15:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/my-schedule'],
  detail: {},
};

describe('reaper events', () => {
  it('a scheduled event is a schedule run whose id is the event id and whose start is the event time (a duplicate delivery is the same run, S6, SPEC §10)', () => {
    expect(runRequestFromEvent(scheduled, () => 'fresh-run-id')).toEqual({ runId: scheduled.id, trigger: 'schedule', startedAt: '2026-11-27T03:15:00.000Z' });
    expect(runRequestFromEvent(structuredClone(scheduled), () => 'another-run-id')).toEqual(runRequestFromEvent(scheduled, () => 'fresh-run-id'));
  });

  it('a scheduled event with an id that is not a valid run id gets one derived from it (the same for every delivery)', () => {
    const first = runRequestFromEvent({ ...scheduled, id: 'x' }, () => 'fresh-run-id');
    expect(first).toEqual({ runId: expect.stringMatching(/^ev-[0-9a-f]{40}$/), trigger: 'schedule', startedAt: '2026-11-27T03:15:00.000Z' });
    expect(runRequestFromEvent({ ...scheduled, id: 'x' }, () => 'other-run-id')).toEqual(first);
    expect(runRequestFromEvent({ ...scheduled, id: 'y' }).runId).not.toBe(first.runId);
    // An event time that does not parse leaves the start to the run (now).
    expect(runRequestFromEvent({ ...scheduled, time: 'soon' })).toEqual({ runId: scheduled.id, trigger: 'schedule' });
  });

  it('an on-demand payload is an api run; unknown fields and wrong types are refused', () => {
    expect(runRequestFromEvent({ runId: 'run-12345678', hosts: ['h1'], dryRun: true, force: false })).toEqual({
      runId: 'run-12345678',
      trigger: 'api',
      hosts: ['h1'],
      dryRun: true,
      force: false,
    });
    expect(runRequestFromEvent({ runId: 'run-12345678' })).toEqual({ runId: 'run-12345678', trigger: 'api' });
    // The API's start of the run keys every delivery's reports alike.
    expect(runRequestFromEvent({ runId: 'run-12345678', startedAt: '2026-11-27T03:15:55.123Z' })).toEqual({ runId: 'run-12345678', trigger: 'api', startedAt: '2026-11-27T03:15:55.123Z' });
    expect(() => runRequestFromEvent({ runId: 'run-12345678', startedAt: 'yesterday' })).toThrow(InvalidEventError);
    expect(() => runRequestFromEvent({ runId: 'run-12345678', extra: 1 })).toThrow(InvalidEventError);
    expect(() => runRequestFromEvent({ runId: 'run-12345678', hosts: [] })).toThrow(InvalidEventError);
    expect(() => runRequestFromEvent({ runId: 'run-12345678', hosts: ['../etc'] })).toThrow(InvalidEventError);
    expect(() => runRequestFromEvent({ runId: 'run-12345678', dryRun: 'false' })).toThrow(InvalidEventError);
    // A scheduled event can never carry force: it is not an on-demand payload.
    expect(runRequestFromEvent({ ...scheduled, force: true })).toEqual({ runId: scheduled.id, trigger: 'schedule', startedAt: '2026-11-27T03:15:00.000Z' });
    expect(() => runRequestFromEvent(null)).toThrow(InvalidEventError);
  });

  it('maps agent call failures to report statuses', () => {
    expect(failureStatus(new AgentCallError('unreachable', 'x'))).toBe('unreachable');
    expect(failureStatus(new AgentCallError('timeout', 'x'))).toBe('timeout');
    expect(failureStatus(new AgentCallError('refused', 'x', 401))).toBe('refused');
    expect(failureStatus(new AgentCallError('error', 'x', 503))).toBe('error');
    expect(failureStatus(new AgentCallError('bad-answer', 'x', 200))).toBe('error');
    expect(failureStatus(new Error('x'))).toBe('error');
  });
});
