/**
 * Where the master key comes from: the environment locally, SSM Parameter Store (a SecureString)
 * on AWS. The SSM value is fetched once per container and cached; a failed fetch is not cached,
 * so the next run tries again. The key's text never appears in an error (S9).
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import { decodeKey } from '../../lib/signing.js';

/** Resolves to the master key, hex. */
export type MasterKeyProvider = () => Promise<string>;

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

export function staticMasterKey(hex: string): MasterKeyProvider {
  decodeKey(hex, 'master key');
  const key = hex.trim();
  return () => Promise.resolve(key);
}

export function ssmMasterKey(options: { ssm: SSMClient | (() => Promise<SSMClient>); parameterName: string }): MasterKeyProvider {
  let cached: Promise<string> | undefined;
  const fetchKey = async (): Promise<string> => {
    let value: string | undefined;
    try {
      // Loaded on first use: only a deployment that keeps the key in SSM pays for the client (cold start).
      const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
      const ssm = typeof options.ssm === 'function' ? await options.ssm() : options.ssm;
      const out = await ssm.send(new GetParameterCommand({ Name: options.parameterName, WithDecryption: true }));
      value = out.Parameter?.Value;
    } catch (error) {
      throw new MasterKeyError(`cannot read the master key from SSM parameter ${options.parameterName}: ${(error as Error).name}`, { cause: error });
    }
    if (value === undefined) throw new MasterKeyError(`SSM parameter ${options.parameterName} has no value`);
    try {
      decodeKey(value, `SSM parameter ${options.parameterName}`);
    } catch (error) {
      throw new MasterKeyError((error as Error).message);
    }
    return value.trim();
  };
  return () => {
    cached ??= fetchKey().catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  };
}
