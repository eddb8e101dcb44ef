/**
 * Forensic records (SPEC §9): what an orphan was, kept in its report entry just before it is
 * removed — image, command, times, exit code, restart count and the last lines of its logs —
 * with secrets redacted (agent/redact.ts). The environment is read only to mask its values
 * wherever they appear; it is never kept. A record is best effort: every engine call has its own
 * deadline, the whole batch another, and a record never fails or holds up a removal (it keeps
 * what it has and says what is missing in `note`).
 */
import pLimit from 'p-limit';
import Docker from 'dockerode';
import { RECORD_LOG_BYTES, type ForensicRecord } from '../lib/agent-contract.js';
import { dockerOptionsFromHost } from './docker.js';
import { envValues, redact, redactCommand, tailBytes } from './redact.js';

/** What the engine says about one container, as this module needs it. */
export interface ContainerFacts {
  image: string;
  /** Entrypoint and arguments as started. */
  command: string[];
  /** `NAME=value` entries: used for masking only, never stored. */
  env: string[];
  tty: boolean;
  /** Still running (or paused): its exit code means nothing yet. */
  running: boolean;
  created?: string | undefined;
  started?: string | undefined;
  finished?: string | undefined;
  exitCode?: number | undefined;
  restartCount?: number | undefined;
}

export interface ForensicsPort {
  /** Throws when the engine fails or does not answer within the signal. */
  inspect(dockerId: string, signal: AbortSignal): Promise<ContainerFacts>;
  /** The raw log tail: Docker's multiplexed frames unless `tty`. */
  logs(dockerId: string, options: { tail: number; tty: boolean }, signal: AbortSignal): Promise<Buffer>;
}

export const RECORD_DEFAULTS = {
  /** Lines asked of the engine; the kept tail is then cut to RECORD_LOG_BYTES. */
  tailLines: 100,
  /** Most raw log bytes read into memory per container (Docker splits a long line every 16 KB). */
  maxRawBytes: 256 * 1024,
  /** Deadline of each engine call. */
  callTimeoutMs: 5_000,
  /** Deadline of the whole batch: past it, records keep what they have. */
  batchTimeoutMs: 15_000,
  /**
   * Log and command bytes kept over all records of one reap, so a forced reap of thousands stays
   * well inside the answer's limit (32 MiB); past it, commands are cut short and logs left out.
   */
  reapBudgetBytes: 4 * 1024 * 1024,
} as const;

export type RecordOptions = { [K in keyof typeof RECORD_DEFAULTS]: number };

/**
 * Docker's multiplexed log stream: frames of [stream, 0, 0, 0, size (uint32 BE)] + payload, both
 * streams in the order they were written. A truncated last frame keeps what arrived.
 */
export function demultiplex(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    const start = offset + 8;
    parts.push(raw.subarray(start, Math.min(start + size, raw.length)));
    offset = start + size;
  }
  return Buffer.concat(parts);
}

/** Whether a buffer looks like multiplexed frames (a TTY container's logs are raw text). */
function looksMultiplexed(raw: Buffer): boolean {
  return raw.length >= 8 && (raw[0] === 1 || raw[0] === 2 || raw[0] === 0) && raw[1] === 0 && raw[2] === 0 && raw[3] === 0;
}

/**
 * The log text to keep: demultiplexed, bounded, redacted, then cut to RECORD_LOG_BYTES. A raw tail
 * cut to `maxRawBytes`, or one that filled the lines asked for, may begin mid-line (Docker splits
 * long lines): that first line is dropped before redaction, so no fragment of a secret is kept
 * where a pattern could no longer recognise it.
 */
export function logText(raw: Buffer, options: { tty: boolean; tailLines: number; maxRawBytes: number; secrets: readonly string[]; maxBytes?: number }): { text: string; truncated: boolean } {
  let bytes = options.tty || !looksMultiplexed(raw) ? raw : demultiplex(raw);
  let cut = false;
  if (bytes.length > options.maxRawBytes) {
    bytes = bytes.subarray(bytes.length - options.maxRawBytes);
    cut = true;
  }
  let text = bytes.toString('utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (cut || lines >= options.tailLines) {
    const newline = text.indexOf('\n');
    text = newline < 0 ? '' : text.slice(newline + 1);
    cut = true;
  }
  const kept = tailBytes(redact(text, { secrets: options.secrets }), options.maxBytes ?? RECORD_LOG_BYTES);
  return { text: kept.text, truncated: cut || kept.truncated };
}

/** A record's command, at most COMMAND_CHARS characters over all its arguments (the last one clipped). */
export const COMMAND_CHARS = 4096;
/** A record's command once the reap's record budget is spent. */
export const SHORT_COMMAND_CHARS = 200;

function clipCommand(args: readonly string[], max: number): string[] {
  const kept: string[] = [];
  let left = max;
  for (const arg of args) {
    if (left <= 0) break;
    kept.push(arg.length <= left ? arg : `${arg.slice(0, Math.max(0, left - 1))}…`);
    left -= arg.length;
  }
  return kept;
}

/** Docker's zero time ("0001-01-01T00:00:00Z") and anything unparsable mean "not known". */
function instant(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'the engine did not answer in time';
  if (error instanceof Error && error.name === 'AbortError') return 'the engine did not answer in time';
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 200);
}

/**
 * One container's record; never throws. `budget` is shared by the reap's records: once spent,
 * records keep their metadata and a short command, and say their logs were left out.
 */
export async function takeRecord(
  port: ForensicsPort,
  dockerId: string,
  fallback: { image: string },
  options: RecordOptions,
  budget: { bytes: number },
  batch: AbortSignal,
): Promise<ForensicRecord> {
  const notes: string[] = [];
  let facts: ContainerFacts;
  try {
    facts = await port.inspect(dockerId, AbortSignal.any([batch, AbortSignal.timeout(options.callTimeoutMs)]));
  } catch (error) {
    // Without its environment, nothing can be masked by value: no logs are kept then.
    return { image: redact(fallback.image), command: [], note: `not inspected (${redact(describe(error))}); no logs kept` };
  }
  const secrets = envValues(facts.env);
  const record: ForensicRecord = {
    image: redact(facts.image, { secrets }).slice(0, 1024),
    command: clipCommand(redactCommand(facts.command.slice(0, 256), { secrets }), budget.bytes >= COMMAND_CHARS ? COMMAND_CHARS : SHORT_COMMAND_CHARS),
    ...(instant(facts.created) ? { createdAt: instant(facts.created) } : {}),
    ...(instant(facts.started) ? { startedAt: instant(facts.started) } : {}),
    ...(instant(facts.finished) ? { finishedAt: instant(facts.finished) } : {}),
    ...(!facts.running && Number.isInteger(facts.exitCode) ? { exitCode: facts.exitCode } : {}),
    ...(Number.isInteger(facts.restartCount) && facts.restartCount! >= 0 ? { restartCount: facts.restartCount } : {}),
  };
  budget.bytes -= Buffer.byteLength(record.command.join(' '));
  if (budget.bytes <= 0) notes.push("logs left out: this reap's record budget is spent");
  else {
    try {
      const raw = await port.logs(dockerId, { tail: options.tailLines, tty: facts.tty }, AbortSignal.any([batch, AbortSignal.timeout(options.callTimeoutMs)]));
      const { text, truncated } = logText(raw, { tty: facts.tty, tailLines: options.tailLines, maxRawBytes: options.maxRawBytes, secrets, maxBytes: Math.min(RECORD_LOG_BYTES, budget.bytes) });
      budget.bytes -= Buffer.byteLength(text);
      record.logs = text;
      if (truncated) record.logsTruncated = true;
    } catch (error) {
      notes.push(`logs not read (${redact(describe(error), { secrets })})`);
    }
  }
  if (notes.length) record.note = notes.join('; ').slice(0, 1000);
  return record;
}

/** Records of many containers at once, `concurrency` at a time, within the batch deadline. */
export async function takeRecords(
  port: ForensicsPort,
  containers: ReadonlyArray<{ dockerId: string; image: string }>,
  options: Partial<RecordOptions> & { concurrency: number },
): Promise<Map<string, ForensicRecord>> {
  const settings: RecordOptions = { ...RECORD_DEFAULTS, ...options };
  const limit = pLimit(Math.max(1, options.concurrency));
  const batch = AbortSignal.timeout(settings.batchTimeoutMs);
  const budget = { bytes: settings.reapBudgetBytes };
  const records = await Promise.all(containers.map((c) => limit(() => takeRecord(port, c.dockerId, { image: c.image }, settings, budget, batch))));
  return new Map(containers.map((c, i) => [c.dockerId, records[i]!]));
}

/** The port over the engine behind `dockerHost` (its own dockerode client). */
export function createForensicsPort(options: { dockerHost: string }): ForensicsPort {
  const docker = new Docker(dockerOptionsFromHost(options.dockerHost));
  return {
    async inspect(dockerId, signal) {
      const info = await docker.getContainer(dockerId).inspect({ abortSignal: signal } as Docker.ContainerInspectOptions);
      const path = info.Path ? [info.Path] : [];
      return {
        image: info.Config?.Image ?? info.Image ?? '',
        command: [...path, ...(info.Args ?? [])],
        env: info.Config?.Env ?? [],
        tty: info.Config?.Tty === true,
        running: info.State?.Running === true,
        created: info.Created,
        started: info.State?.StartedAt,
        finished: info.State?.FinishedAt,
        exitCode: info.State?.ExitCode,
        restartCount: info.RestartCount,
      };
    },
    async logs(dockerId, { tail }, signal) {
      // follow: false answers one buffer; the tail bounds how much the engine sends.
      return docker.getContainer(dockerId).logs({ stdout: true, stderr: true, tail, follow: false, abortSignal: signal } as Docker.ContainerLogsOptions & { follow?: false });
    },
  };
}
