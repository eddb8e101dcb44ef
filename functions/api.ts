/**
 * The API function's Lambda entry (functions/api): the only module of the API that reads
 * process.env and builds AWS clients. API Gateway (HTTP API, payload 2.0) authorises every route
 * with IAM before the function runs, so the app has no auth of its own here.
 *
 * Built once per container, on the first request, and reused. The import stays light: the
 * DynamoDB client is built on that first request, the Lambda client on the first POST /v1/reaps.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { createLogger, type Logger } from '../lib/logger.js';
import { createApiApp } from './api/app.js';
import { loadApiConfig, type ApiConfig } from './api/config.js';
import { lambdaRestore, lambdaStartRun } from './api/lambda-start.js';
import { createStore } from './store/index.js';

export interface ApiFromEnvOptions {
  env: NodeJS.ProcessEnv;
  /** Default: a client configured by the SDK's own conventions (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, …). */
  dynamo?: DynamoDBClient;
  logger?: Logger;
  now?: () => number;
}

/** Builds the app from an environment, as the Lambda entry does; throws ApiConfigError listing every problem. */
export function createApiFromEnv(options: ApiFromEnvOptions): { app: Hono; config: Readonly<ApiConfig> } {
  const config = loadApiConfig(options.env);
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'api' });
  // Bounded DynamoDB calls: API Gateway gives a request 30 s at most.
  const dynamo = options.dynamo ?? new DynamoDBClient({ requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
  const store = createStore({ client: dynamo, prefix: config.tablePrefix, reportTtlDays: config.reportTtlDays, ...(options.now ? { now: options.now } : {}) });
  const app = createApiApp({
    store,
    startRun: lambdaStartRun({ functionName: config.reaperFunctionName }),
    restore: lambdaRestore({ functionName: config.reaperFunctionName }),
    logger,
    ...(options.now ? { now: options.now } : {}),
  });
  return { app, config };
}

type ApiHandler = ReturnType<typeof handle>;
let built: ApiHandler | undefined;

/** `handle(app)` from hono/aws-lambda, over the app built from process.env on the first request. */
export const handler: ApiHandler = (event, lambdaContext) => {
  // A bad configuration throws on every request, with every problem listed, until fixed.
  built ??= handle(createApiFromEnv({ env: process.env }).app);
  return built(event, lambdaContext);
};

export { createLocalApi, type LocalApi, type LocalApiOptions } from './api/local.js';
