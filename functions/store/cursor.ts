/**
 * Opaque page cursors: base64url of a small JSON document holding a DynamoDB key. Decoding
 * validates the shape with zod, so a tampered cursor is a 400, never a malformed request to
 * DynamoDB or a read outside the query the caller asked for.
 */
import { z } from 'zod';
import { badRequest } from '../../lib/errors.js';

const MAX_CURSOR_CHARS = 4096;

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(schema: S, cursor: string): z.infer<S> {
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw invalidCursor();
  return parsed.data;
}

export function invalidCursor() {
  return badRequest('invalid_cursor', 'cursor is not one this listing returned; start again without it');
}
