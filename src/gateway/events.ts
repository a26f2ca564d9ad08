// What the gateway does beyond answering, as events for the operator's log (`serve --log-format`):
// a retry on the same endpoint, a failover, a stream rescue, a circuit breaker changing state.
import type { BreakerState } from '../state/index.ts';

export type GatewayEvent =
  | {
      readonly kind: 'retry';
      readonly requestId: string;
      readonly endpoint: string;
      readonly cause: string;
      readonly waitMs: number;
    }
  | {
      readonly kind: 'failover';
      readonly requestId: string;
      readonly from: string;
      readonly to: string;
      readonly cause: string;
    }
  | {
      readonly kind: 'rescue';
      readonly requestId: string;
      readonly from: string;
      readonly to: string;
      readonly cause: string;
    }
  | {
      readonly kind: 'breaker';
      readonly endpoint: string;
      readonly from: BreakerState;
      readonly to: BreakerState;
    };

export type GatewayEventSink = (event: GatewayEvent) => void;
