// The GET side of each server: health, models, version, tokenize, props (llama.cpp), info (TEI)
// and metrics, with each server's exact shapes (wire-formats.md §3.1–3.2, §4.1–4.2, §5.1–5.2, §6.1–6.2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimEndpoint } from './endpoint.ts';
import { dialectError, notFound } from './errors-wire.ts';
import { llamacppErrorBody, llamacppFingerprint } from './llamacpp.ts';
import { healthHasSlotCounts, slotsJson } from './slots.ts';
import { readMessages, renderChatPrompt } from './prompt.ts';
import { scaleTokens, simTokenId, simTokenize } from './tokenizer.ts';
import { atLeast } from './version.ts';
import { TEI_MAX_BATCH_TOKENS } from './engine/embed-batcher.ts';
import { TEI_MAX_CLIENT_BATCH_SIZE, TEI_MAX_CONCURRENT_REQUESTS } from './embeddings-handler.ts';

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function handleInfoRoute(
  endpoint: SimEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): void {
  const { dialect } = endpoint;
  const get = req.method === 'GET' || req.method === 'HEAD';
  const empty = (status: number): void => {
    res.writeHead(status, { 'content-length': 0 });
    res.end();
  };
  if (
    path === '/health' ||
    (path === '/ping' && dialect !== 'mlx' && dialect !== 'llamacpp') ||
    (path === '/v1/health' && dialect === 'llamacpp') ||
    (path === '/' && dialect === 'tei')
  ) {
    if (dialect === 'vllm' || dialect === 'tei') return empty(200);
    if (dialect === 'mlx') {
      // http.server writes the literal with a space and no Content-Length.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status": "ok"}');
      return;
    }
    if (healthHasSlotCounts(endpoint.version)) {
      // Builds before b3590: slot counts in /health; "no slot available" (503 on ?fail_on_no_slot).
      const table = endpoint.slotTable;
      const full = table.idle === 0;
      const body = JSON.stringify({
        status: full ? 'no slot available' : 'ok',
        slots_idle: table.idle,
        slots_processing: table.processing,
      });
      return endpoint.sendJson(
        res,
        full && hasQueryParam(req, 'fail_on_no_slot') ? 503 : 200,
        body,
        'application/json; charset=utf-8',
      );
    }
    return endpoint.sendJson(res, 200, '{"status":"ok"}', 'application/json; charset=utf-8');
  }
  if (path === '/slots' && get && dialect === 'llamacpp') {
    if (endpoint.options.slotsEndpoint === false) {
      const message = 'This server does not support slots endpoint. Start it with `--slots`';
      return endpoint.sendJson(
        res,
        501,
        llamacppErrorBody(501, message, 'not_supported_error'),
        'application/json; charset=utf-8',
      );
    }
    const table = endpoint.slotTable;
    if (!healthHasSlotCounts(endpoint.version) && table.idle === 0 && hasQueryParam(req, 'fail_on_no_slot')) {
      return endpoint.sendJson(
        res,
        503,
        llamacppErrorBody(503, 'no slot available', 'unavailable_error'),
        'application/json; charset=utf-8',
      );
    }
    return endpoint.sendJson(
      res,
      200,
      slotsJson(table, endpoint.contextWindowTokens, endpoint.version),
      'application/json; charset=utf-8',
    );
  }
  if (path === '/metrics' && get) {
    const text = endpoint.metrics.render(dialect, endpoint.model);
    if (text === undefined) return endpoint.sendError(res, notFound(dialect));
    const headers: Record<string, string> = { 'content-type': PROMETHEUS_TYPE };
    if (dialect === 'llamacpp')
      headers['process-start-time-unix'] = String(Math.floor(endpoint.metrics.startedAtS));
    res.writeHead(200, headers);
    res.end(text);
    return;
  }
  if (path === '/version' && dialect === 'vllm')
    return endpoint.sendJson(res, 200, JSON.stringify({ version: endpoint.version }));
  if (path === '/load' && dialect === 'vllm') {
    return endpoint.sendJson(
      res,
      200,
      JSON.stringify({ server_load: endpoint.metrics.running + endpoint.metrics.waiting }),
    );
  }
  if ((path === '/v1/models' || (path === '/models' && dialect === 'llamacpp')) && dialect !== 'tei') {
    return endpoint.sendJson(res, 200, modelsBody(endpoint));
  }
  if (path === '/info' && dialect === 'tei') return endpoint.sendJson(res, 200, teiInfo(endpoint));
  if (path === '/props' && dialect === 'llamacpp')
    return endpoint.sendJson(res, 200, llamacppProps(endpoint));
  if (path === '/tokenize' && req.method === 'POST' && (dialect === 'vllm' || dialect === 'llamacpp')) {
    readJson(req, (body) => {
      if (body === undefined)
        return endpoint.sendError(res, dialectError(dialect, endpoint.version, 400, 'invalid JSON body'));
      const tokens = scaleTokens(
        tokenizeRequest(body, dialect === 'vllm' ? 'prompt' : 'content'),
        endpoint.options.promptTokenRatio ?? 1,
      );
      const ids = tokens.map(simTokenId);
      if (dialect === 'vllm') {
        endpoint.sendJson(
          res,
          200,
          JSON.stringify({
            count: ids.length,
            max_model_len: endpoint.contextWindowTokens,
            tokens: ids,
            token_strs: body.return_token_strs === true ? tokens : null,
          }),
        );
      } else {
        const withPieces = body.with_pieces === true;
        endpoint.sendJson(
          res,
          200,
          JSON.stringify({ tokens: withPieces ? tokens.map((piece, i) => ({ id: ids[i], piece })) : ids }),
        );
      }
    });
    return;
  }
  endpoint.sendError(res, notFound(dialect));
}

/** llama.cpp checks a query parameter's presence, not its value (`?fail_on_no_slot=0` counts). */
function hasQueryParam(req: IncomingMessage, name: string): boolean {
  const q = (req.url ?? '').split('?')[1];
  return q !== undefined && new URLSearchParams(q).has(name);
}

function tokenizeRequest(body: Record<string, unknown>, textKey: 'prompt' | 'content'): string[] {
  const messages = readMessages(body.messages);
  if (messages !== undefined) {
    return simTokenize(renderChatPrompt(messages, { continueFinal: body.continue_final_message === true }));
  }
  const text = body[textKey];
  return typeof text === 'string' ? simTokenize(text) : [];
}

function readJson(req: IncomingMessage, then: (body: Record<string, unknown> | undefined) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      then(typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined);
    } catch {
      then(undefined);
    }
  });
}

function modelsBody(endpoint: SimEndpoint): string {
  const created = Math.floor(Date.now() / 1000);
  const id = endpoint.model;
  if (endpoint.dialect === 'vllm') {
    return JSON.stringify({
      object: 'list',
      data: [
        {
          id,
          object: 'model',
          created,
          owned_by: 'vllm',
          root: `/models/${id}`,
          parent: null,
          max_model_len: endpoint.contextWindowTokens,
          permission: [
            {
              id: `modelperm-${created.toString(16)}${id.length.toString(16)}`,
              object: 'model_permission',
              created,
              allow_create_engine: false,
              allow_sampling: true,
              allow_logprobs: true,
              allow_search_indices: false,
              allow_view: true,
              allow_fine_tuning: false,
              organization: '*',
              group: null,
              is_blocking: false,
            },
          ],
        },
        // --lora-modules: each adapter is a model of its own whose parent is the base.
        ...endpoint.models.slice(1).map((lora) => ({
          id: lora,
          object: 'model',
          created,
          owned_by: 'vllm',
          root: `/adapters/${lora}`,
          parent: id,
          max_model_len: null,
          permission: [],
        })),
      ],
    });
  }
  if (endpoint.dialect === 'mlx') {
    const entries = endpoint.models.map(
      (m) => `{"id": ${JSON.stringify(m)}, "object": "model", "created": ${created}}`,
    );
    return `{"object": "list", "data": [${entries.join(', ')}]}`;
  }
  return JSON.stringify({
    models: [
      {
        name: id,
        model: id,
        modified_at: '',
        size: '',
        digest: '',
        type: 'model',
        description: '',
        tags: [''],
        capabilities: ['completion'],
        parameters: '',
        details: {
          parent_model: '',
          format: 'gguf',
          family: '',
          families: [''],
          parameter_size: '',
          quantization_level: '',
        },
      },
    ],
    object: 'list',
    data: [
      {
        id,
        aliases: [id],
        tags: [],
        object: 'model',
        created,
        owned_by: 'llamacpp',
        meta: {
          vocab_type: 2,
          n_vocab: 152064,
          n_ctx: endpoint.contextWindowTokens,
          n_ctx_train: 131072,
          n_embd: 5120,
          n_params: 32763876352,
          size: 65527752704,
          ftype: 1,
        },
      },
    ],
  });
}

function llamacppProps(endpoint: SimEndpoint): string {
  return JSON.stringify({
    default_generation_settings: {
      n_ctx: endpoint.contextWindowTokens,
      params: { n_predict: -1, temperature: 0.8 },
    },
    total_slots: endpoint.latency.maxNumSeqs,
    model_path: `/models/${endpoint.model}.gguf`,
    model_alias: endpoint.model,
    chat_template:
      '{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}',
    build_info: llamacppFingerprint(endpoint.version),
    is_sleeping: false,
  });
}

function teiInfo(endpoint: SimEndpoint): string {
  return JSON.stringify({
    model_id: endpoint.model,
    model_sha: null,
    model_dtype: 'float16',
    served_model_name: endpoint.model,
    model_type: { embedding: { pooling: 'last_token' } },
    max_concurrent_requests: TEI_MAX_CONCURRENT_REQUESTS,
    max_input_length: endpoint.contextWindowTokens,
    max_batch_tokens: endpoint.options.engine?.maxBatchTokens ?? TEI_MAX_BATCH_TOKENS,
    max_batch_requests: null,
    max_client_batch_size: TEI_MAX_CLIENT_BATCH_SIZE,
    auto_truncate: atLeast(endpoint.version, '1.9.0'),
    tokenization_workers: 8,
    version: endpoint.version,
    sha: null,
    docker_label: null,
  });
}
