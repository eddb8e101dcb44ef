/**
 * Parsing a deployable's REAPER_* environment with its zod schema, the same way everywhere: an
 * empty variable means "not set" (the way shells and CloudFormation parameters produce it), and
 * every problem is listed in one message.
 */
import type { z } from 'zod';

/** Returns the parsed environment, or the message listing every problem. */
export function parseReaperEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, what: string): { data: z.infer<S> } | { problems: string } {
  const present = Object.fromEntries(Object.entries(env).filter(([name, value]) => name.startsWith('REAPER_') && value !== undefined && value.trim() !== ''));
  const result = schema.safeParse(present);
  if (result.success) return { data: result.data };
  const problems = result.error.issues.map((issue) => `${String(issue.path[0] ?? '(environment)')}: ${issue.message}`);
  return { problems: `invalid ${what} configuration:\n  - ${problems.join('\n  - ')}` };
}
