// The dashboard: the fleet at a glance in a browser, live. The gateway mounts it with
//   const dashboard = createDashboard({ fleet, store, health });
//   if (await dashboard.handle(req, res)) return;   // before its own 404
// and calls `dashboard.close()` on shutdown. Its JSON API under /api/ is what the page and tests read.
export { createDashboard } from './handler.ts';
export type { Dashboard } from './handler.ts';
export { createMemoryStore } from './memory-store.ts';
export type { MemoryStore } from './memory-store.ts';
export type { DashboardDeps, DashboardStore, EvaluateFn, RouteFn, WindowName } from './deps.ts';
export type {
  Overview,
  EndpointCard,
  EndpointDetail,
  ObjectiveView,
  RoutingView,
  RouteAnswer,
  IncidentView,
  CardState,
} from './views.ts';
export { WINDOWS, DEFAULT_WINDOW } from './window.ts';
