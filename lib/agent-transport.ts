/**
 * The control plane's transport for agent calls (SPEC §4, Transport): a `fetch` for
 * lib/agent-client.ts that
 *
 * - reuses connections and TLS sessions: one dispatcher per process (per transport), keep-alive,
 *   no pipelining. A host's identity call and its command share one connection, and a later
 *   connection to the same agent resumes its TLS session. A fresh handshake costs 1.3–2 ms of CPU
 *   per host, keep-alive 0.05–0.23 ms (docs/MACHINE-NOTES; bench/tls-transport.ts measures it);
 * - trusts a CA bundle for agents (REAPER_AGENT_CA_FILE): it REPLACES the default trust for agent
 *   calls, so only certificates issued by that CA are accepted for agents (a certificate a public
 *   CA issued for an agent's name is not enough). Without a bundle, Node's default roots are used;
 * - presents a client certificate (REAPER_AGENT_CLIENT_CERT/_KEY) to agents that require one;
 * - never follows a redirect (`redirect: 'manual'`, whatever the caller asked) and never uses a
 *   proxy; `forUrl(base)` refuses any URL that is not under the host's registered URL, so the
 *   signed command goes nowhere else;
 * - refuses to connect to a link-local or cloud metadata address that a NAME resolved to (a
 *   literal address is governed by the host's `allowLinkLocal`, checked before every call by
 *   functions/reaper/agent-url.ts; a metadata service's own name, allowed there, is let through).
 *
 * Why the `undici` package and not the global fetch: Node bundles undici for `fetch` but does not
 * export its `Agent`, and a dispatcher is the only way to give fetch a CA bundle, a client
 * certificate, a session cache and keep-alive settings. undici 6 is the line that supports Node 20
 * (7 needs 20.18.1+, 8 needs 22), and its fetch and Agent come from one package, so they agree.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { Socket } from 'node:net';
import type { Agent, buildConnector as BuildConnector } from 'undici';
import { AnswerTooLargeError, createAgentClient, type AgentClient, type AgentClientOptions, type AgentHttp } from './agent-client.js';
import { isLinkLocalAddress, isLinkLocalHost } from './agent-url.js';

export interface AgentTransportOptions {
  /** PEM CA bundle for agents; replaces the default roots. */
  ca?: string;
  /** PEM client certificate (chain) and key, for agents started with --tls-client-ca. */
  cert?: string;
  key?: string;
  /** TCP + TLS connect time limit (default 10 s); a call's own signal may end it sooner. */
  connectTimeoutMs?: number;
  /** TLS sessions kept for resumption (default 4096: one per agent of a large fleet). */
  maxCachedSessions?: number;
  /** Replaces DNS (tests). */
  lookup?: typeof dnsLookup;
}

export interface AgentTransport {
  /** fetch over the transport's dispatcher; redirects are never followed. */
  fetch: typeof fetch;
  /** The same, refusing every URL that is not `baseUrl` or below it (same origin, same path prefix). */
  forUrl(baseUrl: string): typeof fetch;
  /**
   * What agent clients use: undici's request API over the same dispatcher, bound to `baseUrl` like
   * `forUrl`. Half the CPU of fetch per call (no WHATWG Request/Response/streams, no resource
   * timing entries), which is most of the control plane's per-host cost (bench/fanout.ts).
   */
  httpForUrl(baseUrl: string): AgentHttp;
  /** Closes every connection. */
  close(): Promise<void>;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup, refusing link-local and metadata addresses a name resolves to (see the module comment). */
function guardedLookup(resolve: typeof dnsLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    (resolve as (h: string, o: LookupOptions, cb: LookupCallback) => void)(hostname, options, (error, address, family) => {
      if (error || isLinkLocalHost(hostname)) return callback(error, address, family);
      const all: LookupAddress[] = Array.isArray(address) ? address : [{ address, family: family ?? 4 }];
      const allowed = all.filter((a) => !isLinkLocalAddress(a.address));
      if (allowed.length === 0) {
        const refused = Object.assign(
          new Error(`${hostname} resolves to ${all.map((a) => a.address).join(', ')}, a link-local or cloud metadata address: refused (an agent really there is registered by its address, with allowLinkLocal: true)`),
          { code: 'EADDRNOTAVAIL' },
        );
        return callback(refused, options.all ? [] : '', undefined);
      }
      if (Array.isArray(address)) return callback(null, allowed);
      callback(null, address, family);
    });
  };
}

/**
 * undici is loaded on the first call, not at import: ~50 ms of module loading that the API
 * function (which imports restore's types) and a cold start before any agent call need not pay.
 */
const importUndici = () => import('undici');
type Undici = Awaited<ReturnType<typeof importUndici>>;
let undiciModule: Promise<Undici> | undefined;
const loadUndici = () => (undiciModule ??= importUndici());

interface Built {
  dispatcher: Agent;
  fetch: Undici['fetch'];
  request: Undici['request'];
}

function build(options: AgentTransportOptions, { Agent, buildConnector, fetch, request }: Undici): Built {
  const connector = buildConnector({
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.cert === undefined ? {} : { cert: options.cert }),
    ...(options.key === undefined ? {} : { key: options.key }),
    rejectUnauthorized: true,
    timeout: options.connectTimeoutMs ?? 10_000,
    maxCachedSessions: options.maxCachedSessions ?? 4096,
    lookup: guardedLookup(options.lookup ?? dnsLookup),
  } as BuildConnector.BuildOptions);
  const dispatcher = new Agent({
    // One request at a time on a connection (no pipelining: a slow reap must not hold up another
    // call); 1, not 0, which would turn keep-alive off.
    pipelining: 1,
    connect: (connectOptions, callback) =>
      connector(connectOptions, (error, socket) => {
        // An agent that refuses our client certificate (TLS 1.3: after the handshake) sends an
        // alert and closes; undici would report the close ("other side closed") and lose the
        // alert. Ending the socket on the alert makes the alert the call's error (lib/tls-failure.ts).
        socket?.prependListener('error', (e: NodeJS.ErrnoException) => {
          if (/^ERR_SSL_\w*ALERT/.test(e.code ?? '')) socket.destroy();
        });
        (callback as (error: Error | null, socket: Socket | null) => void)(error, socket);
      }),
  });
  return { dispatcher, fetch, request };
}

/** The URL under the host's registered base URL, or why it is refused (the signed command goes nowhere else). */
function checkUnder(base: URL, prefix: string, input: string | URL): URL {
  const url = new URL(input);
  if (url.origin !== base.origin || (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) || url.username !== '' || url.password !== '') {
    throw new Error(`refused to send an agent call to ${url.origin}${url.pathname}: not under the host's registered URL ${base.origin}${prefix}`);
  }
  return url;
}

export function createAgentTransport(options: AgentTransportOptions = {}): AgentTransport {
  let built: Promise<Built> | undefined;
  const ready = () => (built ??= loadUndici().then((undici) => build(options, undici)));

  const transportFetch = (async (input: string | URL, init: RequestInit = {}) => {
    const { dispatcher, fetch: undiciFetch } = await ready();
    return undiciFetch(input, { ...(init as object), redirect: 'manual', dispatcher } as Parameters<typeof undiciFetch>[1]);
  }) as unknown as typeof fetch;

  return {
    fetch: transportFetch,
    forUrl(baseUrl) {
      const base = new URL(baseUrl);
      const prefix = base.pathname.replace(/\/+$/, '');
      return ((input: string | URL, init?: RequestInit) => {
        try {
          return transportFetch(checkUnder(base, prefix, typeof input === 'string' || input instanceof URL ? input : (input as Request).url), init);
        } catch (error) {
          return Promise.reject(error as Error);
        }
      }) as typeof fetch;
    },
    httpForUrl(baseUrl) {
      const base = new URL(baseUrl);
      const prefix = base.pathname.replace(/\/+$/, '');
      return async (input, init) => {
        const url = checkUnder(base, prefix, input);
        const { dispatcher, request } = await ready();
        let answer: Awaited<ReturnType<typeof request>>;
        try {
          // The request API never follows redirects (maxRedirections 0 is its default).
          answer = await request(url, { method: init.method as 'GET', headers: init.headers, dispatcher, ...(init.body === undefined ? {} : { body: init.body }), ...(init.signal ? { signal: init.signal } : {}) });
        } catch (error) {
          // Shaped as fetch's failures are, so the client words them alike (its cause is the network's error).
          throw new TypeError('fetch failed', { cause: error });
        }
        const { statusCode, headers, body } = answer;
        return {
          status: statusCode,
          header(name) {
            const value = headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
          async read(maxBytes) {
            const chunks: Buffer[] = [];
            let size = 0;
            for await (const chunk of body) {
              size += (chunk as Buffer).byteLength;
              if (size > maxBytes) {
                body.destroy();
                throw new AnswerTooLargeError(`answer exceeds ${maxBytes} bytes`);
              }
              chunks.push(chunk as Buffer);
            }
            return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          },
          async discard() {
            await body.dump().catch(() => undefined);
          },
        };
      };
    },
    close: async () => {
      if (built) await (await built).dispatcher.close();
    },
  };
}

let processDefault: AgentTransport | undefined;

/** The process's transport with Node's default trust and no client certificate (built on first use). */
export function defaultAgentTransport(): AgentTransport {
  processDefault ??= createAgentTransport();
  return processDefault;
}

/** An agent client factory whose clients call over `transport`, each bound to its host's registered URL. */
export function clientsOver(transport: AgentTransport): (options: AgentClientOptions) => AgentClient {
  return (options) => createAgentClient({ http: transport.httpForUrl(options.baseUrl), ...options });
}
