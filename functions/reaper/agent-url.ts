/**
 * The agent URL rules (lib/agent-url.ts), checked again before every call the reaper makes: the
 * registry's input schema refuses a bad URL at PUT, but an item written by hand (or by an older
 * build) must not bypass them. A host that breaks them gets a `refused` report with errorCode
 * `agent_url_refused`, and nothing is sent.
 */
import { agentUrlProblem } from '../../lib/agent-url.js';
import type { Host } from '../store/schemas.js';

export const AGENT_URL_REFUSED = 'agent_url_refused';

/** Verdicts of recent URL + allowance combinations: the check runs before every call, URL parsing is not free. */
const verdicts = new Map<string, string | undefined>();
const MAX_REMEMBERED = 20_000;

/** Why the host's agent URL may not be called (a report's message), or undefined when it may. */
export function checkAgentUrl(host: Pick<Host, 'agentUrl' | 'allowPlainHttp' | 'allowLinkLocal'>): string | undefined {
  // The verdict is a pure function of these three: remembered, it is the same check.
  const key = `${host.allowPlainHttp === true ? 1 : 0}${host.allowLinkLocal === true ? 1 : 0}${host.agentUrl}`;
  if (verdicts.has(key)) return verdicts.get(key);
  const problem = agentUrlProblem(host.agentUrl, { allowPlainHttp: host.allowPlainHttp, allowLinkLocal: host.allowLinkLocal });
  const verdict = problem === undefined ? undefined : `agent URL refused, nothing was sent: the agent URL ${problem}`;
  if (verdicts.size >= MAX_REMEMBERED) verdicts.clear();
  verdicts.set(key, verdict);
  return verdict;
}
