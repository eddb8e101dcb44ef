/**
 * How the CLI authenticates its requests to the API (SPEC §7): a bearer token for the local stack,
 * SigV4 (service `execute-api`) for the API Gateway HTTP API with IAM auth on AWS, with the AWS
 * SDK's default credential chain (environment, shared config/credentials profiles incl. SSO,
 * container and instance roles). `REAPER_API_AUTH=sigv4|token` chooses; the default is `token`
 * when a token is known (env or the local data dir) or the API is on a loopback address (the local
 * stack), else `sigv4`.
 *
 * The AWS SDK is loaded on first use, so commands that never sign (and `--help`) stay fast.
 */
import { UsageError } from './output.js';

export interface OutgoingRequest {
  method: string;
  url: string;
  /** Lower-case names; the strategy adds its own. */
  headers: Record<string, string>;
  body?: string;
}

export interface RequestAuth {
  readonly kind: 'token' | 'sigv4';
  apply(request: OutgoingRequest): Promise<void>;
}

/** `--profile` and `--region` (set by main.ts before a command runs). */
const awsFlags: { profile?: string; region?: string } = {};
export function configureAws(options: { profile?: string; region?: string }): void {
  if (options.profile) awsFlags.profile = options.profile;
  if (options.region) awsFlags.region = options.region;
}

export function tokenAuth(token: string | undefined): RequestAuth {
  return {
    kind: 'token',
    apply: async (request) => {
      if (token) request.headers.authorization = `Bearer ${token}`;
    },
  };
}

const isLoopback = (baseUrl: string) => {
  try {
    const host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
};

/** The strategy REAPER_API_AUTH asks for, else the default described above. */
export function chooseAuth(baseUrl: string, token: string | undefined, env: NodeJS.ProcessEnv = process.env): RequestAuth {
  const mode = env.REAPER_API_AUTH?.trim().toLowerCase();
  if (mode && mode !== 'sigv4' && mode !== 'token') throw new UsageError(`REAPER_API_AUTH must be sigv4 or token, not "${env.REAPER_API_AUTH}"`);
  if (mode === 'sigv4' || (!mode && !token && !isLoopback(baseUrl))) return sigv4Auth(baseUrl, env);
  return tokenAuth(token);
}

/** The region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's, else the execute-api host name's. */
async function resolveRegion(baseUrl: string, profile: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const direct = awsFlags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (direct) return direct;
  const { loadSharedConfigFiles } = await import('@smithy/core/config');
  const { configFile } = await loadSharedConfigFiles({ ignoreCache: true }).catch(() => ({ configFile: {} as Record<string, Record<string, string | undefined>> }));
  const fromProfile = configFile[profile ?? 'default']?.region;
  if (fromProfile) return fromProfile;
  const fromHost = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(baseUrl).hostname)?.[1];
  if (fromHost) return fromHost;
  throw new UsageError(
    `no AWS region for signing requests to ${baseUrl}: pass --region, set AWS_REGION, or give the profile a region` +
      ' (or set REAPER_API_TOKEN / REAPER_API_AUTH=token for a token-protected API)',
  );
}

export function sigv4Auth(baseUrl: string, env: NodeJS.ProcessEnv = process.env): RequestAuth {
  const profile = awsFlags.profile ?? env.AWS_PROFILE;
  let signer: Promise<import('@smithy/signature-v4').SignatureV4> | undefined;
  const makeSigner = async () => {
    const [{ SignatureV4 }, { Sha256 }, { fromNodeProviderChain }, region] = await Promise.all([
      import('@smithy/signature-v4'),
      import('@smithy/core/checksum'),
      import('@aws-sdk/credential-providers'),
      resolveRegion(baseUrl, profile, env),
    ]);
    const provider = fromNodeProviderChain(profile ? { profile } : {});
    const credentials = async () => {
      try {
        return await provider();
      } catch (error) {
        throw new UsageError(
          `no AWS credentials for signing requests to ${baseUrl}${profile ? ` (profile ${profile})` : ''}: ${(error as Error).message}` +
            ' (set AWS credentials, --profile or AWS_PROFILE, `aws sso login`; or REAPER_API_TOKEN / REAPER_API_AUTH=token for a token-protected API)',
        );
      }
    };
    return new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  };
  return {
    kind: 'sigv4',
    apply: async (request) => {
      signer ??= makeSigner();
      signer.catch(() => (signer = undefined));
      const url = new URL(request.url);
      const query: Record<string, string | string[]> = {};
      for (const [key, value] of url.searchParams) {
        const prior = query[key];
        query[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
      }
      const signed = await (
        await signer
      ).sign({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers: { ...request.headers, host: url.host },
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      // fetch sets Host itself (the same url.host that was signed).
      for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== 'host') request.headers[name.toLowerCase()] = value;
    },
  };
}
