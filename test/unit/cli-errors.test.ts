/** The CLI's wording of the API's refusals and of a local stack that cannot start (issue 11, item 3). */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../cli/api-client.js';
import { errorCode, fieldWords, translateApiError, wantsJson } from '../../cli/errors.js';
import { startFailure } from '../../cli/local-command.js';
import { quietRequests } from '../../cli/local-stack.js';
import { UsageError } from '../../cli/output.js';
import { ReaperConfigError } from '../../functions/reaper/config.js';
import { createLogger } from '../../lib/logger.js';
import { Writable } from 'node:stream';

describe('translateApiError', () => {
  it('makes a validation error a usage error naming the flags', () => {
    const error = new ApiError('invalid body "maxReap": Too big', 400, 'validation_failed', [
      { path: 'maxReap', message: 'Too big: expected number to be <=10000' },
      { path: 'agentUrl', message: 'must be http(s)' },
    ]);
    const translated = translateApiError(error);
    expect(translated).toBeInstanceOf(UsageError);
    expect(translated.message).toBe('invalid --max-reap: Too big: expected number to be <=10000; --url: must be http(s)');
    expect(errorCode(translated)).toBe('usage');
  });

  it('names path and query fields in CLI terms', () => {
    expect(fieldWords('containerId')).toBe('container id');
    expect(fieldWords('hosts.0')).toBe('--host');
    expect(fieldWords('body.leaseSeconds')).toBe('--lease');
    expect(fieldWords('(body)')).toBe('(body)');
  });

  it('rewrites the API route hint of an unknown host into the CLI command, and keeps its code', () => {
    const translated = translateApiError(new ApiError('host nohost is not registered; register it with PUT /v1/hosts/nohost', 404, 'host_not_found'));
    expect(translated).toBeInstanceOf(ApiError);
    expect(translated.message).not.toContain('PUT /v1');
    expect(translated.message).toContain('`clawbox-reaper hosts add nohost --url AGENT_URL`');
    expect(errorCode(translated)).toBe('host_not_found');
    const unreachable = new ApiError('cannot reach the API');
    expect(translateApiError(unreachable)).toBe(unreachable);
    expect(errorCode(unreachable)).toBe('api_unreachable');
  });

  it('sees --json anywhere after the command', () => {
    expect(wantsJson(['node', 'cli', 'hosts', '--json'])).toBe(true);
    expect(wantsJson(['node', 'cli', 'hosts'])).toBe(false);
  });
});

describe('startFailure', () => {
  const options = { apiListen: '127.0.0.1:8787', agentListen: '127.0.0.1:8788' };
  it('puts a configuration problem list on one line, with a hint for seconds', () => {
    const message = startFailure(new ReaperConfigError('invalid reaper configuration:\n  - REAPER_GRACE_SECONDS: must be a whole number\n  - REAPER_MAX_REAP: must be a whole number'), options);
    expect(message).toBe('invalid reaper configuration: REAPER_GRACE_SECONDS: must be a whole number of seconds (e.g. 120, not 2m); REAPER_MAX_REAP: must be a whole number');
  });
  it('names the flag of an address in use', () => {
    const error = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', address: '127.0.0.1', port: 8788 });
    expect(startFailure(error, options)).toBe('cannot listen on 127.0.0.1:8788: it is already in use (another clawbox-reaper local, or another program?); choose another with --agent-listen HOST:PORT');
  });
  it('leaves a bug to the stack trace', () => {
    expect(startFailure(new TypeError('x is undefined'), options)).toBeUndefined();
  });
});

describe('quietRequests', () => {
  it('logs successful requests at debug and refusals at info; other lines unchanged', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) });
    const logger = quietRequests(createLogger({ level: 'info', destination }));
    logger.info({ method: 'GET', path: '/v1/hosts', status: 200 }, 'request');
    logger.info({ method: 'GET', path: '/v1/hosts', status: 401 }, 'request');
    logger.info({ runId: 'r' }, 'reap started');
    logger.child({ x: 1 }).warn('careful');
    const messages = lines.map((l) => JSON.parse(l) as { msg: string; status?: number });
    expect(messages.map((m) => [m.msg, m.status])).toEqual([
      ['request', 401],
      ['reap started', undefined],
      ['careful', undefined],
    ]);
  });
});
