/**
 * Reading a request against the API's contract: path params, query string and JSON body, each
 * parsed strictly with a zod schema. Every failure is a 4xx AppError, so bad input never reaches
 * the store and never becomes a 5xx.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { badRequest } from '../../lib/errors.js';
import { parseJson, parseValue, requireJsonContentType } from '../../lib/http.js';

/** Path params (Hono hands them over percent-decoded: `..%2F` arrives as `../` and is refused). */
export function readParams<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseValue(schema, c.req.param(), 'path');
}

/**
 * The query string as one value per name. A repeated name is refused rather than resolved by
 * picking one: `?hostId=a&hostId=b` has no single meaning.
 */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const params = new URL(c.req.url).searchParams;
  // No prototype: a parameter named __proto__ must be a key like any other, and so be refused.
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of params) {
    if (Object.hasOwn(query, name)) throw badRequest('duplicate_query_parameter', `query parameter "${name.slice(0, 64)}" is given more than once`);
    query[name] = value;
  }
  return parseValue(schema, query, 'query');
}

/**
 * A JSON body. When `emptyAs` is given, an absent body (no bytes, no content type) means that
 * value, so `curl -X POST` works for "all defaults"; any body that is sent must be
 * application/json (415 otherwise) and match the schema.
 */
export async function readJsonBody<S extends z.ZodType>(c: Context, schema: S, options: { emptyAs?: unknown } = {}): Promise<z.infer<S>> {
  const text = await c.req.text();
  if (text === '' && options.emptyAs !== undefined && c.req.header('content-type') === undefined) return parseValue(schema, options.emptyAs);
  requireJsonContentType(c);
  return parseJson(schema, text);
}
