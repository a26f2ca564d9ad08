// The key an endpoint's server wants (its --api-key), as the header every dialect that has one
// accepts: vLLM and llama.cpp take `Authorization: Bearer <key>`, TEI compares the whole header with
// "Bearer <key>" exactly. mlx_lm has no key option; the header is sent and ignored there.
import type { Endpoint } from '../fleet/index.ts';

/** `{authorization: 'Bearer …'}` when the fleet file names a key for this endpoint, else `{}`. */
export function upstreamAuthHeaders(endpoint: Pick<Endpoint, 'upstreamApiKey'>): Record<string, string> {
  return endpoint.upstreamApiKey === undefined ? {} : { authorization: `Bearer ${endpoint.upstreamApiKey}` };
}
