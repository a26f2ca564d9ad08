// The fleet file: schema, loading with file:line errors, env-var overrides and environment
// profiles. Everything else in llm-fleet works from the immutable Fleet this returns.
export * from './types.ts';
export {
  loadFleet,
  parseFleet,
  formatIssue,
  FleetValidationError,
  effectiveRoundingStep,
  environmentFromEnv,
  ENVIRONMENTS,
} from './load.ts';
export type { LoadOptions } from './load.ts';
export { applyEnvironment, tighten, degradeTtft } from './environments.ts';
export * from './units.ts';
export {
  routableEndpoints,
  endpointByName,
  findEndpoint,
  servesModel,
  upstreamModel,
  hostOf,
  defaultFleetPath,
  healthUrl,
} from './lookup.ts';
