// Embeddings: TEI (batch limit 32 → 422, body limit → 413, permits → 429, unwrapped error shape),
// vLLM's pooling runner and llama.cpp's /v1/embeddings. Batches run one at a time and requests
// queued meanwhile share the next one (TEI's max_batch_tokens), as on a single GPU.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs, toEpochMs } from './clock.ts';
import type { SimEndpoint } from './endpoint.ts';
import { contextError, dialectError, notFound, TEI_MAX_CHAR_MULTIPLIER } from './errors-wire.ts';
import { mulberry32 } from './generator.ts';
import { countSimTokens, fnv1a } from './tokenizer.ts';
import { atLeast } from './version.ts';

/** TEI defaults (router/src/main.rs). */
export const TEI_MAX_CLIENT_BATCH_SIZE = 32;
export const TEI_MAX_CONCURRENT_REQUESTS = 512;

/**
 * One random unit vector per dimension, encoded once. A text's embedding is that vector rotated by
 * a hash of the text: deterministic, unit length, near-orthogonal for different texts, and served
 * as a slice of a pre-encoded string. Encoding 32 fresh 4096-float vectors per batch took 100–400 ms
 * and blocked every endpoint in the simulator's process; a slice costs microseconds. Rotations are
 * by multiples of 3 elements (12 bytes), so the base64 of a rotated vector is also a slice — of the
 * doubled vector's base64 — plus the few bytes of its last partial group: base64-encoding 32 × 16 KB
 * per batch was the simulator's main CPU cost for the SDKs' default `encoding_format: base64`.
 */
interface Basis {
  /** `v0,v1,…,v(d-1),v0,…,v(d-1),` as ASCII bytes. */
  readonly doubled: Buffer;
  /** Start offset in `doubled` of element i, for i in 0..2d. */
  readonly offsets: Int32Array;
  readonly values: Float32Array;
  /** base64 of `values`' bytes (the doubled vector, little-endian float32), as ASCII bytes. */
  readonly base64: Buffer;
}
const bases = new Map<number, Basis>();

function basis(dimension: number): Basis {
  const hit = bases.get(dimension);
  if (hit) return hit;
  const rand = mulberry32(fnv1a(`basis:${dimension}`));
  const one = new Float32Array(dimension);
  let norm = 0;
  for (let i = 0; i < dimension; i++) {
    const v = rand() * 2 - 1;
    one[i] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  const values = new Float32Array(2 * dimension);
  const parts: string[] = [];
  for (let i = 0; i < dimension; i++) {
    const v = (one[i] as number) / norm;
    values[i] = v;
    values[i + dimension] = v;
    parts.push(String(Number(Math.fround(v).toPrecision(7))));
  }
  const offsets = new Int32Array(2 * dimension + 1);
  let doubled = '';
  let at = 0;
  for (let i = 0; i < 2 * dimension; i++) {
    offsets[i] = at;
    const piece = `${parts[i % dimension]},`;
    doubled += piece;
    at += piece.length;
  }
  offsets[2 * dimension] = at;
  const base64 = Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
  const b = {
    doubled: Buffer.from(doubled, 'latin1'),
    offsets,
    values,
    base64: Buffer.from(base64, 'latin1'),
  };
  bases.set(dimension, b);
  return b;
}

export interface SimEmbedding {
  readonly values: Float32Array;
  /** `[v0,…]` as JSON numbers, and the float32 bytes in base64: slices of the basis (no copy). */
  readonly jsonBytes: readonly Buffer[];
  readonly base64Bytes: readonly Buffer[];
  /** The same as text (derived on demand: the simulator answers with the bytes). */
  readonly json: string;
  readonly base64: string;
}

const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');
const QUOTE = Buffer.from('"');

/** A deterministic unit vector for a text (same text, same vector), with its encodings. */
export function simEmbedding(text: string, dimension: number): SimEmbedding {
  const b = basis(dimension);
  const r = 3 * (fnv1a(text) % Math.max(1, Math.floor(dimension / 3)));
  const [from, to] = [b.offsets[r] as number, (b.offsets[r + dimension] as number) - 1];
  const values = b.values.subarray(r, r + dimension);
  // Bytes [4r, 4r + 4d): 4r is a multiple of 3, so whole 3-byte groups map to whole 4-char groups.
  const groups = Math.floor((4 * dimension) / 3);
  const [headFrom, headTo] = [(16 * r) / 3, (16 * r) / 3 + 4 * groups];
  const rest = 4 * dimension - 3 * groups;
  const tail =
    rest === 0 ? '' : Buffer.from(values.buffer, values.byteOffset + 3 * groups, rest).toString('base64');
  const jsonBytes = [OPEN, b.doubled.subarray(from, to), CLOSE];
  const base64Bytes = [b.base64.subarray(headFrom, headTo), Buffer.from(tail, 'latin1')];
  return {
    values,
    jsonBytes,
    base64Bytes,
    get json() {
      return Buffer.concat(jsonBytes).toString('latin1');
    },
    get base64() {
      return Buffer.concat(base64Bytes).toString('latin1');
    },
  };
}

function readInputs(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return undefined;
  if (input.length === 0) return [];
  if (input.every((x) => typeof x === 'number')) return [input.join(' ')];
  const out: string[] = [];
  for (const item of input) {
    if (typeof item === 'string') out.push(item);
    else if (Array.isArray(item)) out.push(item.join(' '));
    else return undefined;
  }
  return out;
}

export function handleEmbeddings(
  endpoint: SimEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawBody: string,
  arrivalMs: number,
): void {
  const { dialect, version } = endpoint;
  if (dialect === 'mlx') {
    endpoint.sendError(res, notFound('mlx'));
    return;
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(rawBody) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    endpoint.sendError(
      res,
      dialectError(
        dialect,
        version,
        dialect === 'tei' ? 422 : 400,
        `Failed to parse the request body as JSON: ${message}`,
      ),
    );
    return;
  }
  const id = endpoint.responseId('embd', req);
  const truth = endpoint.newTruth(req, id, path, arrivalMs, false);
  const fault = endpoint.pickFault(req, true);
  if (endpoint.applyEarlyFault(req, res, fault, truth)) return;
  const native = path === '/embed';
  const inputs = readInputs(native ? body.inputs : body.input);
  const fail = (status: number, message: string, type?: string): void => {
    truth.status = status;
    truth.outcome = 'error';
    endpoint.recordTruth(truth);
    if (dialect === 'tei' && native) {
      endpoint.sendJson(res, status, JSON.stringify({ error: message, error_type: type ?? 'Validation' }));
      return;
    }
    endpoint.sendError(res, dialectError(dialect, version, status, message, type));
  };
  if (dialect === 'vllm' && endpoint.kind !== 'embeddings') {
    fail(400, 'The model does not support Embeddings API');
    return;
  }
  if (inputs === undefined || inputs.length === 0) {
    fail(
      dialect === 'tei' ? 400 : 400,
      dialect === 'tei' ? '`inputs` cannot be empty' : 'input must not be empty',
      dialect === 'tei' ? 'Empty' : undefined,
    );
    return;
  }
  const tokens = inputs.map(countSimTokens);
  const ctx = endpoint.contextWindowTokens;
  if (dialect === 'tei') {
    if (inputs.length > TEI_MAX_CLIENT_BATCH_SIZE) {
      fail(
        422,
        `batch size ${inputs.length} > maximum allowed batch size ${TEI_MAX_CLIENT_BATCH_SIZE}`,
        'Validation',
      );
      return;
    }
    if (endpoint.embeddingInputsInFlight + inputs.length > TEI_MAX_CONCURRENT_REQUESTS) {
      endpoint.metrics.teFailure++;
      fail(429, 'Model is overloaded', 'Overloaded');
      return;
    }
    // auto_truncate defaults to true from v1.9.0; before, an over-long input is a 422: first by
    // its length in characters (max_input_length × 250), then by its tokens.
    const autoTruncate = typeof body.truncate === 'boolean' ? body.truncate : atLeast(version, '1.9.0');
    const longest = Math.max(...tokens);
    const longestChars = Math.max(...inputs.map((t) => t.length));
    const forced = fault?.kind === 'context-400';
    if ((!autoTruncate && (longest > ctx || longestChars > ctx * TEI_MAX_CHAR_MULTIPLIER)) || forced) {
      const chars = forced && fault.form === 'chars' ? ctx * TEI_MAX_CHAR_MULTIPLIER + 1 : longestChars;
      const e = contextError('tei', version, {
        promptTokens: forced ? Math.max(longest, ctx + 1) : longest,
        contextWindowTokens: ctx,
        chat: false,
        characters: chars,
      });
      if (e) {
        truth.status = e.status;
        truth.outcome = 'error';
        endpoint.recordTruth(truth);
        endpoint.sendError(res, e);
      }
      return;
    }
  } else {
    const longest = Math.max(...tokens);
    if (longest > ctx || fault?.kind === 'context-400') {
      const n = Math.max(longest, ctx + 1);
      if (dialect === 'llamacpp') {
        // llama-server's send_error(…, ERROR_TYPE_EXCEED_CONTEXT_SIZE), as for completions.
        const e = contextError('llamacpp', version, {
          promptTokens: n,
          contextWindowTokens: ctx,
          chat: false,
          embeddings: true,
        });
        truth.status = 400;
        truth.outcome = 'error';
        endpoint.recordTruth(truth);
        if (e) endpoint.sendError(res, e);
        return;
      }
      fail(
        400,
        `This model's maximum context length is ${ctx} tokens. However, you requested ${n} tokens in the input for embedding generation. Please reduce the length of the input.`,
        'BadRequestError',
      );
      return;
    }
  }
  let dimension = endpoint.embeddingDimension;
  if (typeof body.dimensions === 'number') {
    if (dialect === 'vllm') {
      fail(
        400,
        `Model "${endpoint.model}" does not support matryoshka representation, changing output dimensions will lead to poor results.`,
      );
      return;
    }
    if (dialect === 'tei') {
      if (body.dimensions > dimension || body.dimensions < 1) {
        fail(
          422,
          `\`dimensions\` must be between 1 and ${dimension}. Given: ${body.dimensions}`,
          'Validation',
        );
        return;
      }
      dimension = body.dimensions;
    }
  }
  const base64 = body.encoding_format === 'base64';
  const promptTokens = tokens.reduce((a, b) => a + b, 0);

  // TEI's batching (engine/embed-batcher.ts): queued requests share the next batch.
  const now = nowMs();
  let startAt = now;
  let durationMs = 0;
  endpoint.embeddingInputsInFlight += inputs.length;
  truth.promptTokens = promptTokens;
  truth.inputs = inputs.length;
  let settled = false;
  const settle = (): void => {
    if (settled) return;
    settled = true;
    endpoint.inFlight.delete(cancel);
    endpoint.embeddingInputsInFlight -= inputs.length;
  };
  const cancel = (): void => {
    ticket.release();
    settle();
  };
  endpoint.inFlight.add(cancel);
  res.on('close', () => {
    if (!truth.endAtMs) cancel();
  });
  const ticket = endpoint.embedBatcher.submit({
    inputs: inputs.length,
    tokens: promptTokens,
    onStart: (atMs, queuedMs, doneAtMs) => {
      startAt = atMs;
      durationMs = doneAtMs - atMs;
      truth.queueMs = queuedMs;
    },
    onDone: (doneAt) => respond(doneAt),
  });
  const respond = (doneAt: number): void => {
    settle();
    const vectors = inputs.map((text) => simEmbedding(text, dimension));
    // The answer is assembled from the basis's bytes: 32 × 16 KB of floats are not encoded again.
    const pieces: Buffer[] = [];
    const text = (t: string): number => pieces.push(Buffer.from(t));
    const vector = (v: SimEmbedding): number =>
      base64 ? pieces.push(QUOTE, ...v.base64Bytes, QUOTE) : pieces.push(...v.jsonBytes);
    const items = (before: (i: number) => string, after: (i: number) => string): void =>
      vectors.forEach((v, i) => {
        text(`${i > 0 ? ',' : ''}${before(i)}`);
        vector(v);
        text(after(i));
      });
    const ms = (doneAt - arrivalMs).toFixed(0);
    const headers: Record<string, string> = {};
    if (dialect === 'tei') {
      if (native) {
        text('[');
        vectors.forEach((v, i) => {
          if (i > 0) text(',');
          pieces.push(...v.jsonBytes);
        });
        text(']');
      } else {
        text('{"object":"list","data":[');
        items(
          () => '{"object":"embedding","embedding":',
          (i) => `,"index":${i}}`,
        );
        text(
          `],"model":${JSON.stringify(endpoint.model)},"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}`,
        );
      }
      Object.assign(headers, {
        'x-compute-type': 'gpu',
        'x-compute-time': ms,
        'x-compute-characters': String(inputs.reduce((a, t) => a + t.length, 0)),
        'x-compute-tokens': String(promptTokens),
        'x-total-time': ms,
        'x-tokenization-time': '0',
        'x-queue-time': (startAt - now).toFixed(0),
        'x-inference-time': durationMs.toFixed(0),
      });
      endpoint.metrics.teRequests++;
      endpoint.metrics.teSuccess++;
      endpoint.metrics.teDuration.observe((doneAt - arrivalMs) / 1000);
    } else if (dialect === 'vllm') {
      text(
        `{"id":${JSON.stringify(id)},"object":"list","created":${Math.floor(Date.now() / 1000)},"model":${JSON.stringify(endpoint.model)},"data":[`,
      );
      items(
        (i) => `{"index":${i},"object":"embedding","embedding":`,
        () => '}',
      );
      text(
        `],"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens},"completion_tokens":0,"prompt_tokens_details":null}}`,
      );
    } else {
      const fmt = base64 ? ',"encoding_format":"base64"' : '';
      text(
        `{"model":${JSON.stringify(typeof body.model === 'string' ? body.model : endpoint.model)},"object":"list","usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}},"data":[`,
      );
      items(
        () => '{"embedding":',
        (i) => `,"index":${i},"object":"embedding"${fmt}}`,
      );
      text(']}');
    }
    const out = Buffer.concat(pieces);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': out.length,
      ...headers,
    });
    res.end(out);
    truth.status = 200;
    truth.ttftMs = toEpochMs(nowMs()) - truth.arrivalMs;
    truth.endAtMs = toEpochMs(nowMs());
    endpoint.recordTruth(truth);
  };
}
