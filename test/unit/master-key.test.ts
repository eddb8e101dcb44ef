/**
 * The SSM master key provider against the real SSM client, whose transport is replaced at the
 * `finalizeRequest` step by a responder (no AWS here): what is checked is the request the client
 * builds (name, decryption), caching, and that a failure is not cached.
 */
import { describe, expect, it } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ssmMasterKey, staticMasterKey, MasterKeyError } from '../../functions/reaper/master-key.js';

const KEY = 'ef'.repeat(32);

function fakeSsm(answers: (() => unknown)[]) {
  const ssm = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  const inputs: unknown[] = [];
  ssm.middlewareStack.add(
    (_next, _context) => async (args) => {
      inputs.push((args as { input: unknown }).input);
      const answer = answers.shift();
      if (!answer) throw new Error('no more answers');
      return { output: answer() as never, response: {} };
    },
    { step: 'initialize', name: 'test-ssm-responder', priority: 'low' },
  );
  return { ssm, inputs };
}

describe('master key providers', () => {
  it('fetches the SecureString once, with decryption, and caches it', async () => {
    const { ssm, inputs } = fakeSsm([() => ({ Parameter: { Value: KEY } })]);
    const provider = ssmMasterKey({ ssm, parameterName: '/clawbox-reaper/dev/master-key' });
    expect(await provider()).toBe(KEY);
    expect(await provider()).toBe(KEY);
    expect(inputs).toEqual([{ Name: '/clawbox-reaper/dev/master-key', WithDecryption: true }]);
  });

  it('does not cache a failure, and never echoes a bad value', async () => {
    const { ssm, inputs } = fakeSsm([
      () => {
        throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
      },
      () => ({ Parameter: { Value: 'short-secret' } }),
      () => ({ Parameter: { Value: KEY } }),
    ]);
    const provider = ssmMasterKey({ ssm, parameterName: '/k' });
    await expect(provider()).rejects.toThrow(/ParameterNotFound/);
    const bad = await provider().catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(MasterKeyError);
    expect((bad as Error).message).not.toContain('short-secret');
    expect(await provider()).toBe(KEY);
    expect(inputs).toHaveLength(3);
  });

  it('a static key is validated up front', async () => {
    expect(() => staticMasterKey('abcd')).toThrow(/at least 32 bytes/);
    expect(await staticMasterKey(KEY)()).toBe(KEY);
  });
});
