/**
 * The reaper function's Lambda entry (functions/reaper): the only module of the reaper that reads
 * process.env and builds AWS clients. Built once per container, on the first invocation, and
 * reused: config, clients and the cached master key survive between runs.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { clientsOver, createAgentTransport, defaultAgentTransport, type AgentTransport } from '../lib/agent-transport.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { readCertAndKey, readCertificates } from '../lib/tls-files.js';
import { createAlerter } from './reaper/alerts.js';
import { loadReaperConfig, type ReaperConfig } from './reaper/config.js';
import { lambdaDispatch } from './reaper/dispatch.js';
import { createReaperHandler, type LambdaContextLike, type ReaperHandler } from './reaper/handler.js';
import { ssmMasterKey, staticMasterKey, type MasterKeyProvider } from './reaper/master-key.js';
import { createRestorer } from './reaper/restore.js';
import { createReaper } from './reaper/run.js';
import { createStore } from './store/index.js';

export interface ReaperFromEnvOptions {
  env: NodeJS.ProcessEnv;
  /** Default: a client configured by the SDK's own conventions (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, …). */
  dynamo?: DynamoDBClient;
  ssm?: SSMClient;
  logger?: Logger;
  now?: () => number;
}

/** Builds the handler from an environment (the Lambda entry; the local stack can call it too). */
export function createReaperFromEnv(options: ReaperFromEnvOptions): { handler: ReaperHandler; config: Readonly<ReaperConfig> } {
  const config = loadReaperConfig(options.env);
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'reaper' });
  // Bounded DynamoDB calls: a hung request must not eat the time kept for writing reports. Two
  // attempts, not the SDK's three: the report store retries its writes itself, within the run's
  // deadline, and the registry reads are cut off at the work deadline.
  const dynamo = options.dynamo ?? new DynamoDBClient({ maxAttempts: 2, requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
  const store = createStore({ client: dynamo, prefix: config.tablePrefix, reportTtlDays: config.reportTtlDays, ...(options.now ? { now: options.now } : {}) });
  let masterKey: MasterKeyProvider;
  if (config.masterKey !== undefined) masterKey = staticMasterKey(config.masterKey);
  else {
    const ssm = options.ssm ?? (async () => new (await import('@aws-sdk/client-ssm')).SSMClient({}));
    masterKey = ssmMasterKey({ ssm, parameterName: config.masterKeyParam ?? '' });
  }
  // One transport per container, reused by every run: connections and TLS sessions to agents (SPEC §4).
  const agentClient = clientsOver(agentTransportFor(config));
  const alerter = createAlerter({
    settings: { webhookUrl: config.alertWebhookUrl, topicArn: config.alertTopicArn, failureStreak: config.alertFailureStreak },
    logger,
    ...(options.now ? { now: options.now } : {}),
  });
  const emf = config.metrics === 'emf' || (config.metrics === undefined && options.env.AWS_LAMBDA_FUNCTION_NAME !== undefined);
  const metrics = emf ? { write: (line: string) => void process.stdout.write(`${line}\n`), stage: config.metricsStage } : undefined;
  // On AWS the planner sends each shard to the worker function; unset, shards run in this process.
  const dispatch = config.workerFunction === undefined ? undefined : lambdaDispatch({ functionName: config.workerFunction });
  const reaper = createReaper({
    store,
    masterKey,
    logger,
    settings: config,
    reportTtlDays: config.reportTtlDays,
    agentClient,
    alerter,
    ...(dispatch ? { dispatch } : {}),
    ...(metrics ? { metrics } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const restore = createRestorer({ store, masterKey, logger, agentClient, ...(options.now ? { now: options.now } : {}) });
  return { handler: createReaperHandler({ reaper, logger, restore, ...(options.now ? { now: options.now } : {}) }), config };
}

/** The agent transport the config asks for: its CA bundle (replacing the default roots) and client certificate. */
function agentTransportFor(config: Readonly<ReaperConfig>): AgentTransport {
  if (config.agentCaFile === undefined && config.agentClientCertFile === undefined) return defaultAgentTransport();
  const ca = config.agentCaFile === undefined ? undefined : readCertificates(config.agentCaFile, 'REAPER_AGENT_CA_FILE').pem;
  const client =
    config.agentClientCertFile === undefined || config.agentClientKeyFile === undefined
      ? undefined
      : readCertAndKey({ cert: config.agentClientCertFile, key: config.agentClientKeyFile }, { cert: 'REAPER_AGENT_CLIENT_CERT', key: 'REAPER_AGENT_CLIENT_KEY' });
  return createAgentTransport({ ...(ca === undefined ? {} : { ca }), ...(client === undefined ? {} : { cert: client.cert, key: client.key }) });
}

let built: ReaperHandler | undefined;

export const handler = async (event: unknown, context: LambdaContextLike) => {
  // A bad configuration throws on every invocation, with every problem listed, until fixed.
  built ??= createReaperFromEnv({ env: process.env }).handler;
  return built(event, context);
};
