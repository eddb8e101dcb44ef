/** Parsing items read back from a table: a failure is a CorruptItemError naming the table and key, never a cast. */
import type { z } from 'zod';

export class CorruptItemError extends Error {
  override name = 'CorruptItemError';
  constructor(
    readonly table: string,
    readonly key: string,
    readonly issues: string,
  ) {
    super(`item ${key} in ${table} does not match its schema: ${issues}`);
  }
}

export function summarizeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(item)'}: ${issue.message}`)
    .join('; ');
}

export function parseItem<S extends z.ZodType>(schema: S, item: unknown, table: string, key: string): z.infer<S> {
  const parsed = schema.safeParse(item);
  if (!parsed.success) throw new CorruptItemError(table, key, summarizeIssues(parsed.error));
  return parsed.data;
}
