/**
 * Shared HTTP plumbing for the agent and the API: the one place errors become responses, JSON
 * 404/405s, and strict JSON body parsing against a zod schema.
 */
import type { Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';
import { AppError, badRequest } from './errors.js';
import type { Logger } from './logger.js';

export interface ErrorHandlingOptions {
  logger: Logger;
  /** Called with the code of every 4xx answer (metrics). */
  onRefusal?: (code: string) => void;
}

function errorResponse(c: Context, error: AppError) {
  const body = { error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) } };
  return c.json(body, error.status);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function installErrorHandling(app: Hono<any>, options: ErrorHandlingOptions): void {
  app.notFound((c) => {
    options.onRefusal?.('not_found');
    return errorResponse(c, new AppError(404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  });
  app.onError((error, c) => {
    let appError: AppError;
    if (error instanceof AppError) appError = error;
    else if (error instanceof HTTPException && error.status < 500) {
      appError = new AppError(error.status as AppError['status'], error.status === 413 ? 'payload_too_large' : 'bad_request', error.message || 'bad request');
    } else {
      options.logger.error({ err: error, method: c.req.method, path: new URL(c.req.url).pathname }, 'unhandled error');
      appError = new AppError(500, 'internal', 'internal error; see the server log');
    }
    if (appError.status < 500) options.onRefusal?.(appError.code);
    else if (error instanceof AppError) options.logger.warn({ code: appError.code, err: appError.cause ?? appError }, appError.message);
    return errorResponse(c, appError);
  });
}

/** Summarises zod issues without echoing the (possibly huge or hostile) input: unknown keys are named in messages, so both are clipped. */
export function describeIssues(error: z.ZodError, root = 'body'): { path: string; message: string }[] {
  const clip = (text: string) => (text.length <= 200 ? text : `${text.slice(0, 199)}…`);
  return error.issues.slice(0, 20).map((issue) => ({ path: clip(issue.path.map(String).join('.') || `(${root})`), message: clip(issue.message) }));
}

export function requireJsonContentType(c: Context): void {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new AppError(415, 'unsupported_media_type', 'send the body as application/json');
}

/** Parses a JSON text strictly against a schema; every failure is a 400 with a stable code. */
export function parseJson<S extends z.ZodType>(schema: S, text: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('invalid_json', 'body is not valid JSON');
  }
  return parseValue(schema, value);
}

export function parseValue<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = describeIssues(result.error, what);
    const first = issues[0];
    const summary = first ? `invalid ${what === 'path' ? '' : `${what} `}${first.path.startsWith('(') ? 'value' : `"${first.path}"`}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}` : `invalid ${what}`;
    throw badRequest('validation_failed', summary, issues);
  }
  return result.data;
}
