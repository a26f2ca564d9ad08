// The definitions every measurement of llm-fleet follows, in words: printed by `calibrate --help`,
// `bench --help` and kept in every JSON result, so a number never travels without its meaning.
import { PERCENTILE_METHOD } from './percentiles.ts';

export const DEFINITIONS = {
  clock:
    'monotonic high-resolution clock (performance.now); the request clock starts when the request has been written to the socket',
  timeToHeaders: 'time until the HTTP response headers arrived',
  timeToRole:
    'time until the first chunk carrying delta.role (vLLM sends it alone, before any token); never counted as a token',
  ttft: 'time to first token: until the first SSE event carrying a content or reasoning token (delta.content, delta.reasoning_content, delta.reasoning, tool_calls; inline <think> text is content). Role-only chunks, keep-alive comments and usage chunks do not stop it',
  itl: 'inter-token latency: gaps between consecutive token-bearing events',
  decodeTokensPerSecond:
    'generation tokens/s of one request = (completion tokens − 1) / (last token time − first token time)',
  sustained: 'sustained tokens/s = P50 over requests of decodeTokensPerSecond',
  burst:
    "burst tokens/s = P95 over requests of each request's best 1-second rate (a 1000 ms window anchored at each token arrival; a decode phase shorter than 1 s counts as its own window, i.e. its decode rate; an event carrying several tokens counts completion tokens / events)",
  tokens:
    'completion tokens from the server usage (stream_options.include_usage); without usage, the server /tokenize of the generated text (tokenSource: tokenize); else counted events, an estimate that undercounts multi-token events (tokenSource: chunks, figures marked estimated)',
  promptTokens:
    'prompt tokens from usage.prompt_tokens; else the server /tokenize of the prompt; else the asked size (assumed). Calibrate sizes its prompt with /tokenize where the server has it',
  forcedOutput:
    'calibrate asks for ignore_eos / min_tokens where the server has them and checks each answer reached max_tokens; answers under 16 tokens give no decode or burst figure and no throughput floor',
  embeddings:
    "embeddings latency = whole request for one batch of texts; embeddings/s = aggregate rate under concurrency: inputs / busy time (the union of the batches' [start, end] intervals) — calibrate sends rounds of 8 concurrent batches, check divides the inputs of the batches counted by the busy time they covered",
  e2e: 'end-to-end latency = until the last byte of the response',
  percentiles: PERCENTILE_METHOD,
} as const;
