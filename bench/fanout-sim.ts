/**
 * The remote side of bench/fanout.ts, run as a child process:
 *   `agents`: one http server on 127.0.0.1 that is every simulated host's agent;
 *   `dynamo`: an in-memory dynalite on 127.0.0.1.
 * Prints `READY <url>` once listening; stops on SIGTERM.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { issueAnchor } from '../agent/anchor.js';
import { ReapRequest, type Identity, type ReapReport } from '../lib/agent-contract.js';
import { ANSWER_SIGNATURE_HEADER, CONTENT_HASH_HEADER, decodeKey, deriveHostKey, EMPTY_BODY_SHA256, sha256Hex, SIGNATURE_HEADER, signAnswer, TIMESTAMP_HEADER, verifySignature } from '../lib/signing.js';

/** A stable hash: which hosts have an orphan in a run is the same on every delivery of it. */
const hashOf = (text: string) => createHash('sha256').update(text).digest().readUInt32BE(0);

export const AgentStats = z.strictObject({ requests: z.number(), signatureFailures: z.number() });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Every host's agent behind one server; answers only correctly signed, contract-valid commands,
 * and signs its answers as a real agent does (SPEC §4), or the control plane refuses them.
 */
function virtualAgents(masterKey: string, latency: [number, number], orphanShare: number): Server {
  const keys = new Map<string, Buffer>();
  const stats: z.infer<typeof AgentStats> = { requests: 0, signatureFailures: 0 };
  return createServer((req, res) => {
    /** Set once the request's signature verified: the answer is signed. */
    let signer: { key: Buffer; signature: string } | undefined;
    const reply = (status: number, json: unknown) => {
      const body = JSON.stringify(json);
      res.writeHead(status, { 'content-type': 'application/json', ...(signer ? { [ANSWER_SIGNATURE_HEADER]: signAnswer(signer.key, signer.signature, status, body) } : {}) });
      res.end(body);
    };
    void (async () => {
      if (req.url === '/stats') return reply(200, stats);
      stats.requests++;
      const body = await readBody(req);
      const match = /^\/h\/([^/]+)(\/v1\/reap|\/v1\/identity)$/.exec(req.url ?? '');
      if (!match || req.method !== (match[2] === '/v1/reap' ? 'POST' : 'GET')) return reply(404, { error: { code: 'not_found', message: 'no route' } });
      const hostId = match[1] ?? '';
      let key = keys.get(hostId);
      if (!key) keys.set(hostId, (key = decodeKey(deriveHostKey(masterKey, hostId))));
      const timestamp = Number(req.headers[TIMESTAMP_HEADER]);
      const signature = String(req.headers[SIGNATURE_HEADER] ?? '');
      // The client signs the agent's own path; /h/<id> plays a proxy's prefix, stripped before the agent.
      const contentHash = String(req.headers[CONTENT_HASH_HEADER] ?? EMPTY_BODY_SHA256);
      if (!verifySignature(key, { timestamp, method: req.method ?? '', path: match[2] ?? '', bodyHash: contentHash }, signature)) {
        stats.signatureFailures++;
        return reply(401, { error: { code: 'bad_signature', message: 'signature does not match this host key' } });
      }
      signer = { key, signature };
      if (sha256Hex(body) !== contentHash) return reply(400, { error: { code: 'content_hash_mismatch', message: 'body is not the one signed' } });
      // One engine per simulated host; the anchor is the real agent's (agent/anchor.ts).
      if (match[2] === '/v1/identity') {
        const nowMs = Date.now();
        return reply(200, { hostId, engineId: `engine-${hostId}`, clockOffsetMs: 0, agentTimeMs: nowMs, anchor: issueAnchor(key, nowMs, performance.now()) } satisfies Identity);
      }
      const parsed = ReapRequest.safeParse(JSON.parse(body));
      if (!parsed.success || parsed.data.hostId !== hostId) return reply(400, { error: { code: 'validation_failed', message: 'bad command' } });
      const started = Date.now();
      await sleep(latency[0] + Math.random() * (latency[1] - latency[0]));
      const finished = Date.now();
      const request = parsed.data;
      // A share of the hosts (FANOUT_ORPHAN_SHARE, default all: the pessimistic steady state) has
      // one orphan, removed at once; the others are quiet. The fleet budget is honoured as the real
      // agent does (agent/guards.ts).
      const hasOrphan = orphanShare >= 1 || (hashOf(`${request.runId}/${hostId}`) % 10_000) / 10_000 < orphanShare;
      if (!hasOrphan) {
        reply(200, {
          runId: request.runId,
          hostId,
          engineId: `engine-${hostId}`,
          clockOffsetMs: 0,
          status: request.dryRun ? 'dry-run' : 'ok',
          startedAt: new Date(started).toISOString(),
          finishedAt: new Date(finished).toISOString(),
          durationMs: finished - started,
          dryRun: request.dryRun,
          counts: { labelled: request.tracked.length, tracked: request.tracked.length, orphans: 0, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0, ...(request.quarantineSeconds === undefined ? {} : { quarantined: 0, restored: 0 }) },
          containers: [],
        } satisfies ReapReport);
        return;
      }
      const capped = !request.dryRun && request.fleetBudget !== undefined && request.fleetBudget < 1;
      const report: ReapReport = {
        runId: request.runId,
        hostId,
        engineId: `engine-${hostId}`,
        clockOffsetMs: 0,
        status: request.dryRun ? 'dry-run' : capped ? 'capped' : 'ok',
        ...(capped ? { cap: { guard: 'fleet-max-reap' as const, limit: request.fleetBudget ?? 0, orphans: 1, labelled: request.tracked.length + 1, removals: 1 } } : {}),
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        durationMs: finished - started,
        dryRun: request.dryRun,
        counts: { labelled: request.tracked.length + 1, tracked: request.tracked.length, orphans: 1, young: 0, stopped: capped ? 0 : 1, removed: capped ? 0 : 1, vanished: 0, failed: 0 },
        containers: [{ clawboxId: `orphan-${hostId}`, dockerId: 'a'.repeat(64), state: 'running', createdAt: new Date(started - 3_600_000).toISOString(), action: capped ? 'would-remove' : 'removed' }],
      };
      reply(200, report);
    })().catch(() => reply(500, { error: { code: 'internal', message: 'simulator error' } }));
  });
}

async function main(role: string | undefined): Promise<void> {
  let server: Server;
  if (role === 'agents') {
    const latency = (process.env.FANOUT_LATENCY ?? '20,80').split(',').map(Number);
    server = virtualAgents(process.env.FANOUT_MASTER_KEY ?? '', [latency[0] ?? 20, latency[1] ?? 80], Number(process.env.FANOUT_ORPHAN_SHARE ?? '1'));
  } else if (role === 'dynamo') {
    const dynalite: (options: { createTableMs: number }) => Server = createRequire(import.meta.url)('dynalite');
    server = dynalite({ createTableMs: 0 });
  } else throw new Error('usage: fanout-sim.ts agents|dynamo');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no TCP port');
  process.stdout.write(`READY http://127.0.0.1:${address.port}\n`);
  process.once('SIGTERM', () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  });
}

// By the script's name, not import.meta.url: bundled (scripts/bundle-fanout.mjs), this module is also inlined into fanout.mjs.
if (process.argv[1] !== undefined && /fanout-sim\.(ts|mjs)$/.test(process.argv[1])) {
  await main(process.argv[2]);
}
