import { describe, expect, it } from 'vitest';
import { AgentUrl } from '../../functions/store/schemas.js';

describe('agent URLs', () => {
  it('accepts http(s) URLs and refuses credentials in them (they would reach reports and logs)', () => {
    expect(AgentUrl.safeParse('https://host-a.internal:8788').success).toBe(true);
    expect(AgentUrl.safeParse('http://user:secret@host-a:8788').success).toBe(false);
    expect(AgentUrl.safeParse('http://user@host-a:8788').success).toBe(false);
    expect(AgentUrl.safeParse('ftp://host-a').success).toBe(false);
    // Regression (API fuzz): an unparsable URL is a validation failure, never a throw (was a 500).
    for (const bad of ['', 'not a url', 'http://']) expect(AgentUrl.safeParse(bad).success).toBe(false);
  });
});
