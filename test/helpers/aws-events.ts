/**
 * Shared test fixtures for the AWS side: the event EventBridge delivers to a schedule rule's
 * Lambda target, and the process environment a deployed function sees (set for a test file,
 * restored after it).
 */
import { randomUUID } from 'node:crypto';

/** The shape EventBridge delivers to a Lambda target of a schedule rule (a fresh id each time). */
export function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/clawbox-reaper-dev-ReaperEventsRuleSchedule1-ABCDEF'],
    detail: {},
  };
}

/** Sets process.env variables (undefined deletes one) and restores every one it touched. */
export function processEnv() {
  const saved: Record<string, string | undefined> = {};
  return {
    set(values: Record<string, string | undefined>): void {
      for (const [name, value] of Object.entries(values)) {
        if (!(name in saved)) saved[name] = process.env[name];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
    restore(): void {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
