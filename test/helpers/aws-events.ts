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

/**
 * What a deployed function's SDK clients see of the environment, and nothing of this machine's:
 * test credentials, one region, no profile, config file or instance metadata, no endpoint override
 * (each test adds its own AWS_ENDPOINT_URL_<SERVICE>).
 */
export const DEPLOYED_AWS_ENV: Readonly<Record<string, string | undefined>> = Object.freeze({
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: undefined,
  AWS_ACCESS_KEY_ID: 'AKIDTESTTESTTESTTEST',
  AWS_SECRET_ACCESS_KEY: 'test-secret',
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_ENDPOINT_URL: undefined,
});
