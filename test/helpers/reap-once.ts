/**
 * A signed reap from inside a container's own network namespace (the agent image test runs the
 * agent with --network none): the real agent client, bundled into one file and run with `docker
 * exec … node`. In: AGENT_URL, HOST_KEY (hex), REAP (the request as JSON, anchor fetched here).
 * Out: the report as JSON on stdout.
 */
import { createAgentClient } from '../../lib/agent-client.js';
import { decodeKey } from '../../lib/signing.js';

const client = createAgentClient({ baseUrl: process.env.AGENT_URL ?? 'http://127.0.0.1:8788', hostKey: decodeKey(process.env.HOST_KEY ?? '') });
const report = await client.reap(JSON.parse(process.env.REAP ?? '{}') as Parameters<typeof client.reap>[0]);
process.stdout.write(JSON.stringify(report));
