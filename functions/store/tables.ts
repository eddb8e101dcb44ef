/**
 * Table names and definitions (SPEC §3). `tableDefinitions` is the single source of the key
 * schema: `ensureTables` creates missing tables from it locally (dynalite) and in tests, and the
 * CloudFormation in serverless.yml must declare the same keys and indexes, and TTL on the
 * attributes `ttlAttributes` names (`reports.expiresAt`, `runs.expiresAt`, `tracked.x`). TTL is never set
 * through the API here: dynalite does not implement UpdateTimeToLive (items simply never expire
 * locally), and on AWS the stack owns it.
 */
import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { TRACKED_TTL_ATTRIBUTE } from './tracked-item.js';

export const DEFAULT_TABLE_PREFIX = 'clawbox-reaper-';

export interface TableNames {
  hosts: string;
  tracked: string;
  reports: string;
  /** One item per pinned engine (S10): `engineId` → the one host bound to it. */
  engines: string;
  /** One item per quarantined container (S11), per host. */
  quarantine: string;
  /** Per run: its header and one item per shard with every host's outcome (functions/store/run-items.ts). */
  runs: string;
}

/**
 * GSI over reports by UTC day of the run's start (`day` = YYYY-MM-DD): the audit trail across all
 * hosts, newest first, without a Scan. Only full reports are items (quiet outcomes live in the
 * runs table), so a day holds what happened, not every host every minute. It projects what a
 * listing shows (a summary), never the per-container list: an index write costs by what it copies.
 * (A run's reports need no index: the runs table names its hosts, and a report's key is known.)
 */
export const DAY_INDEX = 'day-index';

/** The attributes the day-index copies besides the keys: a report summary's (ReportSummary). */
export const DAY_INDEX_ATTRIBUTES: readonly string[] = [
  'runId', 'trigger', 'status', 'error', 'errorCode', 'engineId', 'clockOffsetMs', 'clockFlag', 'cap', 'startedAt', 'snapshotAt', 'finishedAt',
  'durationMs', 'dryRun', 'force', 'maxReap', 'trackedSent', 'attempts', 'runHosts', 'agent', 'counts', 'containersTotal', 'truncated', 'expiresAt',
  'outcome', 'recoveredAt', 'recoveredBy', 'lostStatus', 'lostError', 'compact', 'resourcesTotal', 'resourcesError',
];

/**
 * The TTL attribute of each table that has one (epoch seconds), as infra/dynamodb.yml declares it:
 * reports expire after the retention (REAPER_REPORT_TTL_DAYS), tracked items with a lease some
 * time after it ended (functions/store/tracked.ts).
 */
export const ttlAttributes: Readonly<Partial<Record<keyof TableNames, string>>> = Object.freeze({ reports: 'expiresAt', tracked: TRACKED_TTL_ATTRIBUTE, runs: 'expiresAt' });

export function tableNames(prefix: string = DEFAULT_TABLE_PREFIX): TableNames {
  return {
    hosts: `${prefix}hosts`,
    tracked: `${prefix}tracked`,
    reports: `${prefix}reports`,
    engines: `${prefix}engines`,
    quarantine: `${prefix}quarantine`,
    runs: `${prefix}runs`,
  };
}

/** CreateTable inputs for the six tables, on-demand billing. */
export function tableDefinitions(prefix: string = DEFAULT_TABLE_PREFIX): CreateTableCommandInput[] {
  const names = tableNames(prefix);
  return [
    {
      TableName: names.hosts,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'hostId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'hostId', KeyType: 'HASH' }],
    },
    {
      TableName: names.tracked,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'hostId', AttributeType: 'S' },
        { AttributeName: 'containerId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'containerId', KeyType: 'RANGE' },
      ],
    },
    {
      TableName: names.reports,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'hostId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'day', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: DAY_INDEX,
          KeySchema: [
            { AttributeName: 'day', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...DAY_INDEX_ATTRIBUTES] },
        },
      ],
    },
    {
      // A conditional PutItem here makes "one engine, one host" exact without transactions (S10).
      TableName: names.engines,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'engineId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'engineId', KeyType: 'HASH' }],
    },
    {
      // One host's quarantined containers are one partition: the reaper reads them with one Query.
      TableName: names.quarantine,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'hostId', AttributeType: 'S' },
        { AttributeName: 'dockerId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'dockerId', KeyType: 'RANGE' },
      ],
    },
    {
      // A run's header and shard items share its id: one Query reads the whole run.
      TableName: names.runs,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'runId', AttributeType: 'S' },
        { AttributeName: 'part', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'runId', KeyType: 'HASH' },
        { AttributeName: 'part', KeyType: 'RANGE' },
      ],
    },
  ];
}

async function tableStatus(client: DynamoDBClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    return out.Table?.TableStatus ?? 'UNKNOWN';
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/**
 * Creates the tables that do not exist yet and waits until all are ACTIVE. For local use and
 * tests; on AWS the stack creates them. Never touches TTL (see the module comment).
 */
export async function ensureTables(client: DynamoDBClient, prefix: string = DEFAULT_TABLE_PREFIX, timeoutMs = 30_000): Promise<TableNames> {
  const deadline = Date.now() + timeoutMs;
  for (const definition of tableDefinitions(prefix)) {
    const name = definition.TableName ?? '';
    if ((await tableStatus(client, name)) !== undefined) continue;
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (error) {
      // Another process created it between our check and our create: that is the goal anyway.
      if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    }
  }
  for (const definition of tableDefinitions(prefix)) {
    const name = definition.TableName ?? '';
    while ((await tableStatus(client, name)) !== 'ACTIVE') {
      if (Date.now() > deadline) throw new Error(`table ${name} did not become ACTIVE within ${timeoutMs} ms`);
      await sleep(25);
    }
  }
  return tableNames(prefix);
}
